/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fd-exec N=PATH ... NAME=VALUE ... -- COMMAND [ARG...]: opens each PATH
 * read-only as fd N, sets each variable NAME, then execs COMMAND.
 * bench/bwrap.sh starts every command it times through it, so that plain
 * bwrap gets its descriptors without a shell (bash forks before a command
 * with redirections, which cbox does not pay), cbox alone its variables,
 * and every command pays the same small exec. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int
main (int argc, char **argv)
{
  int i;
  for (i = 1; i < argc && strcmp (argv[i], "--") != 0; i++)
    {
      char *eq = strchr (argv[i], '=');
      int fd, want;
      if (eq == NULL)
        return 125;
      *eq = '\0';
      if (argv[i][0] < '0' || argv[i][0] > '9')
        {
          if (setenv (argv[i], eq + 1, 1) < 0)
            return 125;
          continue;
        }
      want = atoi (argv[i]);
      fd = open (eq + 1, O_RDONLY);
      if (fd < 0 || dup2 (fd, want) < 0)
        {
          perror (eq + 1);
          return 125;
        }
      if (fd != want)
        close (fd);
    }
  if (i + 1 >= argc)
    return 125;
  execvp (argv[i + 1], argv + i + 1);
  perror (argv[i + 1]);
  return 127;
}
