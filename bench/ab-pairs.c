/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ab-pairs N [NAME=VALUE...] A... :: [NAME=VALUE...] B...
 *
 * Times two commands in N alternating pairs (A then B, then B then A, ...)
 * and prints each one's median and mean and the median of the paired
 * differences B - A, in ms. Variables before a command are added to its
 * environment. Every run starts with posix_spawn(), stdin and stdout on
 * /dev/null, and is timed until waitpid() returns. Used to measure one
 * change to cbox against the tree before it (docs/benchmarks.md): pairs
 * run back to back see the same machine, which a run of all of A then all
 * of B does not. Build: cc -O2 -o ab-pairs bench/ab-pairs.c */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double
now_ms (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int
compare (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double
run_once (char **argv)
{
  posix_spawn_file_actions_t actions;
  char *envp[1024];
  int n_env = 0;
  double start;
  pid_t pid;
  int status;

  for (char **e = environ; *e != NULL && n_env < 1000; e++)
    envp[n_env++] = *e;
  while (argv[0] != NULL && argv[0][0] != '/' && strchr (argv[0], '=') != NULL && n_env < 1023)
    envp[n_env++] = *argv++;
  envp[n_env] = NULL;
  posix_spawn_file_actions_init (&actions);
  posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
  start = now_ms ();
  if (posix_spawn (&pid, argv[0], &actions, NULL, argv, envp) != 0)
    {
      perror (argv[0]);
      exit (125);
    }
  waitpid (pid, &status, 0);
  posix_spawn_file_actions_destroy (&actions);
  return now_ms () - start;
}

int
main (int argc, char **argv)
{
  char **a = argv + 2, **b = NULL;
  double *ta, *tb, *d, sum_a = 0, sum_b = 0, sum_d = 0;
  int n;

  if (argc < 5 || (n = atoi (argv[1])) < 2)
    {
      fputs ("usage: ab-pairs N [NAME=VALUE...] A... :: [NAME=VALUE...] B...\n", stderr);
      return 125;
    }
  for (int i = 2; i < argc; i++)
    if (strcmp (argv[i], "::") == 0)
      {
        argv[i] = NULL;
        b = argv + i + 1;
        break;
      }
  if (b == NULL || b[0] == NULL || a[0] == NULL)
    {
      fputs ("ab-pairs: give two commands separated by ::\n", stderr);
      return 125;
    }
  ta = calloc ((size_t)n, sizeof *ta);
  tb = calloc ((size_t)n, sizeof *tb);
  d = calloc ((size_t)n, sizeof *d);
  if (ta == NULL || tb == NULL || d == NULL)
    return 125;
  for (int i = 0; i < 10; i++)
    {
      run_once (a);
      run_once (b);
    }
  for (int i = 0; i < n; i++)
    {
      if (i % 2 == 0)
        {
          ta[i] = run_once (a);
          tb[i] = run_once (b);
        }
      else
        {
          tb[i] = run_once (b);
          ta[i] = run_once (a);
        }
      d[i] = tb[i] - ta[i];
      sum_a += ta[i];
      sum_b += tb[i];
      sum_d += d[i];
    }
  qsort (ta, (size_t)n, sizeof *ta, compare);
  qsort (tb, (size_t)n, sizeof *tb, compare);
  qsort (d, (size_t)n, sizeof *d, compare);
  printf ("A: median %.3f ms, mean %.3f ms\n", ta[n / 2], sum_a / n);
  printf ("B: median %.3f ms, mean %.3f ms\n", tb[n / 2], sum_b / n);
  printf ("B - A, %d pairs: median %+.3f ms, mean %+.3f ms (quartiles %+.3f, %+.3f)\n", n, d[n / 2],
          sum_d / n, d[n / 4], d[3 * n / 4]);
  free (ta);
  free (tb);
  free (d);
  return 0;
}
