/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tries to push a byte into a terminal's input with TIOCSTI (plain, and
 * with the high bits of the request set, as a filter matching 64 bits
 * would miss) and TIOCLINUX. Makes a new pty its controlling terminal
 * first, so that outside a sandbox the kernel allows TIOCSTI. Prints one
 * word per attempt: "EPERM", "ok", or another errno name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *
result (int r)
{
  if (r == 0)
    return "ok";
  if (errno == EPERM)
    return "EPERM";
  return strerrorname_np (errno);
}

int
main (void)
{
  int master, slave;
  char c = 'x';
  char linux_arg[2] = { 3, 0 }; /* TIOCL_PASTESEL */
  unsigned long high = 0x100000000ul | TIOCSTI;

  setsid ();
  master = posix_openpt (O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt (master) < 0 || unlockpt (master) < 0)
    {
      perror ("posix_openpt");
      return 2;
    }
  slave = open (ptsname (master), O_RDWR);
  if (slave < 0)
    {
      perror ("open slave");
      return 2;
    }
  ioctl (slave, TIOCSCTTY, 0);
  printf ("%s ", result (ioctl (slave, TIOCSTI, &c)));
  printf ("%s ", result (ioctl (slave, high, &c)));
  printf ("%s\n", result (ioctl (slave, TIOCLINUX, linux_arg)));
  return 0;
}
