/* SPDX-License-Identifier: MIT */
/* A library dlopen'd, dlclose'd and dlopen'd again by test_callsite.cpp, built twice with
   CS_TAG a and b: the same layout (names of the same length), different names, so a table
   kept for the first copy would name the second copy's code wrongly. */
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define NAME(n) CAT(CAT(cs_, CS_TAG), _##n)

volatile int cs_sink;

__attribute__((noinline)) static int NAME(local_one)(int x) { cs_sink += x; return x * 3 + cs_sink; }
__attribute__((noinline)) static int NAME(local_two)(int x) { cs_sink ^= x; return NAME(local_one)(x + 1) - 7; }
__attribute__((noinline, visibility("hidden"))) int NAME(hidden_fn)(int x) { return NAME(local_two)(x) * 5; }
__attribute__((noinline)) int NAME(exported_one)(int x) { return NAME(hidden_fn)(x) + 11; }
__attribute__((noinline)) int NAME(exported_two)(int x) { return NAME(exported_one)(x) ^ NAME(local_one)(x); }
int (*NAME(entry))(int) = NAME(exported_two);

/* Overlapping symbols, as hand-written assembly can have them: an exported function holding
   another exported one (dladdr answers the one starting last) and a local one holding another
   local one (the .symtab scan answers the first listed). */
#define STR2(x) #x
#define STR(x) STR2(x)
#define OUTER STR(NAME(outer))
#define INNER STR(NAME(inner))
#define LOUTER STR(NAME(local_outer))
#define LINNER STR(NAME(local_inner))
__asm__(".text\n"
        ".globl " OUTER "\n.type " OUTER ", @function\n" OUTER ":\n .fill 16, 1, 0x90\n"
        ".globl " INNER "\n.type " INNER ", @function\n" INNER ":\n .fill 8, 1, 0x90\n"
        ".size " INNER ", 8\n .fill 8, 1, 0x90\n ret\n.size " OUTER ", .-" OUTER "\n"
        ".type " LOUTER ", @function\n" LOUTER ":\n .fill 16, 1, 0x90\n"
        ".type " LINNER ", @function\n" LINNER ":\n .fill 8, 1, 0x90\n"
        ".size " LINNER ", 8\n .fill 8, 1, 0x90\n ret\n.size " LOUTER ", .-" LOUTER "\n");
