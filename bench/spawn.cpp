// SPDX-License-Identifier: MIT
// bench/spawn.cpp -- start a program N times in a row: the start-up workloads of bench/suite.py.
//
//   spawn N PROGRAM [ARGS...]
//
// Runs PROGRAM N times, one after the other (fork, execvp, wait4), each with the environment
// of spawn itself plus LD_PRELOAD=$TM_BENCH_PRELOAD when that is set (so spawn itself runs
// under no preload, and every configuration is started the same way).  Prints
//   runs N median_us M total_s T max_rss_kib R median_cpu_us C
// where M is the median wall time of one run (fork to reaped), C the median CPU time (user +
// system, from wait4: on a shared machine it does not count waiting for a CPU), and R the largest peak RSS of
// the children (ru_maxrss; it includes the small RSS of spawn's forked copy before exec, the
// same for every configuration).  Exit status 1 if any run did not exit 0.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: spawn N PROGRAM [ARGS...]\n");
    return 2;
  }
  long n = std::strtol(argv[1], nullptr, 10);
  if (n < 1) {
    std::fprintf(stderr, "spawn: N must be a positive number, got '%s'\n", argv[1]);
    return 2;
  }
  const char* pre = std::getenv("TM_BENCH_PRELOAD");
  std::vector<double> us, cpu;
  long max_rss = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    auto a = std::chrono::steady_clock::now();
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("spawn: fork");
      return 1;
    }
    if (pid == 0) {
      if (pre && *pre) setenv("LD_PRELOAD", pre, 1);
      unsetenv("TM_BENCH_PRELOAD");
      execvp(argv[2], argv + 2);
      std::fprintf(stderr, "spawn: cannot run %s: %s\n", argv[2], std::strerror(errno));
      _exit(127);
    }
    int st = 0;
    struct rusage ru {};
    if (wait4(pid, &st, 0, &ru) < 0) {
      std::perror("spawn: wait4");
      return 1;
    }
    auto b = std::chrono::steady_clock::now();
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      std::fprintf(stderr, "spawn: run %ld of %s: %s %d\n", i, argv[2],
                   WIFEXITED(st) ? "exit status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
      return 1;
    }
    us.push_back(std::chrono::duration<double, std::micro>(b - a).count());
    cpu.push_back((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    max_rss = std::max(max_rss, ru.ru_maxrss);
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  double med = median(us);
  std::printf("runs %ld median_us %.1f total_s %.4f max_rss_kib %ld median_cpu_us %.1f\n", n, med, total, max_rss,
              median(cpu));
  return 0;
}
