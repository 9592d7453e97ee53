// SPDX-License-Identifier: MIT
// cli/record.cpp -- `tiermalloc record [-o PROFILE] [-p POLICY] -- PROGRAM [ARGS...]`.
//
// Runs PROGRAM with libtiermalloc.so preloaded and TIERMALLOC_PROFILE set to a `%p` path in
// a private temporary directory, waits for it, and keeps the profile of the top process
// (the one it started, whatever it exec'ed into) as PROFILE (default
// tiermalloc-profile.json).  Profiles written by its child processes (a shell's commands,
// pyenv's helpers, multiprocessing workers) are not kept: their number is reported.
// Exits with the program's status (128 + N when a signal N ended it).  Ctrl-C reaches the
// program (the terminal sends it to both); SIGTERM and SIGHUP are forwarded to it.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

volatile pid_t g_child = 0;

// SIGTERM and SIGHUP sent to `tiermalloc record` go to the program, which then exits (and
// writes its profile if it handles them) while we wait for it.
void forward(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

void fail(const std::string& msg) { std::fprintf(stderr, "tiermalloc: record: %s\n", msg.c_str()); }

std::string library_path() {
  if (const char* env = std::getenv("TIERMALLOC_LIBRARY")) return env;
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string d = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("./x");
  d = d.substr(0, d.find_last_of('/'));
  for (const char* rel : {"/libtiermalloc.so", "/../lib/libtiermalloc.so", "/../lib/x86_64-linux-gnu/libtiermalloc.so",
                          "/../lib64/libtiermalloc.so"}) {
    struct stat st;
    std::string p = d + rel;
    if (stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      char real[PATH_MAX];
      return realpath(p.c_str(), real) ? real : p;
    }
  }
  return "";
}

// Copies src to dst (PROFILE may be on another filesystem than the temporary directory).
bool copy_file(const std::string& src, const std::string& dst, std::string* err) {
  int in = open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    *err = "cannot read " + src + ": " + std::strerror(errno);
    return false;
  }
  int out = open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    *err = "cannot write " + dst + ": " + std::strerror(errno);
    close(in);
    return false;
  }
  char buf[1 << 16];
  bool ok = true;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      ok = false;
      break;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        ok = false;
        break;
      }
      off += w;
    }
    if (!ok) break;
  }
  if (close(out) != 0) ok = false;
  close(in);
  if (!ok) *err = "cannot write " + dst + ": " + std::strerror(errno);
  return ok;
}

}  // namespace

int cmd_record(int argc, char** argv) {
  std::string out = "tiermalloc-profile.json", policy;
  int i = 0;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if ((a == "-o" || a == "--output") && i + 1 < argc) {
      out = argv[++i];
    } else if ((a == "-p" || a == "--policy") && i + 1 < argc) {
      policy = argv[++i];
    } else if (a[0] == '-') {
      fail("unknown option '" + a + "' (expected -o PROFILE, -p POLICY, then -- PROGRAM)");
      return 2;
    } else {
      break;
    }
  }
  if (i >= argc) {
    fail("no program given (usage: tiermalloc record [-o PROFILE] -- PROGRAM [ARGS...])");
    return 2;
  }
  std::string lib = library_path();
  if (lib.empty()) {
    fail("cannot find libtiermalloc.so next to the tiermalloc command or in ../lib (set TIERMALLOC_LIBRARY)");
    return 2;
  }
  if (!policy.empty()) {
    char real[PATH_MAX];
    if (!realpath(policy.c_str(), real)) {
      fail("cannot open policy '" + policy + "': " + std::strerror(errno));
      return 2;
    }
    setenv("TIERMALLOC_POLICY", real, 1);
  }
  // Check that PROFILE can be written before running what may be a long program.
  {
    std::string parent = out.find('/') == std::string::npos ? "." : out.substr(0, out.find_last_of('/') + 1);
    if (access(parent.c_str(), W_OK) != 0) {
      fail("cannot write " + out + ": " + std::strerror(errno));
      return 2;
    }
  }
  const char* tmpdir = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/tiermalloc-record-XXXXXX";
  std::string dir(tmpl);
  if (!mkdtemp(dir.data())) {
    fail("cannot create a temporary directory " + tmpl + ": " + std::strerror(errno));
    return 2;
  }
  std::string preload = lib;
  if (const char* old = std::getenv("LD_PRELOAD"); old && *old) preload += std::string(":") + old;

  // While the program runs, a terminal's Ctrl-C or Ctrl-\ reaches it and us: let it decide,
  // and stay to collect its profile.
  struct sigaction ign, old_int, old_quit;
  std::memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  pid_t pid = fork();
  g_child = pid;
  if (pid > 0) {
    struct sigaction fwd;
    std::memset(&fwd, 0, sizeof fwd);
    fwd.sa_handler = forward;
    sigaction(SIGTERM, &fwd, nullptr);
    sigaction(SIGHUP, &fwd, nullptr);
  }
  if (pid < 0) {
    fail(std::string("fork: ") + std::strerror(errno));
    return 2;
  }
  if (pid == 0) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    setenv("LD_PRELOAD", preload.c_str(), 1);
    setenv("TIERMALLOC_PROFILE", (dir + "/profile-%p.json").c_str(), 1);
    execvp(argv[i], argv + i);
    std::fprintf(stderr, "tiermalloc: record: cannot execute '%s': %s\n", argv[i], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;

  std::string mine = "profile-" + std::to_string(pid) + ".json";
  bool found = false;
  int others = 0;
  std::string err;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string path = dir + "/" + name;
      if (name == mine) {
        found = copy_file(path, out, &err);
        if (!found) fail(err);
      } else if (name.rfind("profile-", 0) == 0 && name.find(".tmp-") == std::string::npos) {
        ++others;
      }
      unlink(path.c_str());
    }
    closedir(d);
  }
  rmdir(dir.c_str());
  if (!found) {
    if (err.empty())
      fail(std::string("'") + argv[i] + "' wrote no profile (it did not exit normally, or ended with _exit or exec of a setuid program)");
    return rc ? rc : 2;
  }
  std::fprintf(stderr, "tiermalloc: record: profile of pid %d written to %s", static_cast<int>(pid), out.c_str());
  if (others) std::fprintf(stderr, " (%d child process%s not profiled)", others, others == 1 ? "" : "es");
  std::fprintf(stderr, "\n");
  return rc;
}
