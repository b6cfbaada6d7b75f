/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* cbox-qemu-init: PID 1 of a cbox virtual machine.
 *
 * Linked statically and packed into the initramfs that the qemu backend
 * writes (cbox-qemu-initramfs.c). It:
 *   1. mounts /proc, /sys, /dev and loads the kernel modules listed in
 *      /cbox/modules (uncompressed by the host, in dependency order);
 *   2. finds the virtio-serial control port "cbox.control" and says
 *      "alive" on it: the host's sign of life, used to tell a working KVM
 *      from one that hangs the guest;
 *   3. mounts the read-only metadata share (tag "cbox-meta") and reads the
 *      plan file the host wrote there (netstrings, see cbox-qemu-meta.c);
 *   4. builds the new root on a tmpfs, item by item in plan order: each bind
 *      is its own 9p or virtiofs share, tmpfs, dirs, symlinks, data files;
 *   5. moves the new root over /, drops to the user's uid/gid and runs the
 *      command with the plan's environment and working directory;
 *   6. reports "exit N" on the control port and powers the machine off.
 *
 * Plain libc, no GLib: this runs before anything of the host is mounted.
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cbox-confine.h"

#define NEWROOT "/newroot"
#define META "/cbox-meta"
#define SHARES "/cbox-shares"

static int control_fd = -1;
static int console_fd = -1; /* /dev/console: the kernel log, seen with --verbose */

/* ---- reporting ----------------------------------------------------------- */

/* A mark on the serial console (the host's log of the boot), with the
 * time since boot: the host shows it as progress on a terminal, keeps it
 * for the reason of a failed start ("last init mark") and shows it all with
 * --verbose. The console is written directly, so a quiet kernel log does
 * not hide it. */
static void
stage (const char *what)
{
  char line[160];
  struct timespec ts = { 0 };
  int n;

  if (console_fd < 0)
    return;
  clock_gettime (CLOCK_BOOTTIME, &ts);
  n = snprintf (line, sizeof line, "[%5ld.%06ld] cbox-qemu-init: %s\n", (long)ts.tv_sec,
                ts.tv_nsec / 1000, what);
  if (n > 0 && (size_t)n < sizeof line && write (console_fd, line, (size_t)n) < 0)
    {
      /* The log is best effort. */
    }
}

static void
write_all (int fd, const char *buf, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      buf += n;
      len -= (size_t)n;
    }
}

static void control_say (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static void
control_say (const char *format, ...)
{
  char line[1024];
  va_list ap;
  int n;

  if (control_fd < 0)
    return;
  va_start (ap, format);
  n = vsnprintf (line, sizeof line, format, ap);
  va_end (ap);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof line)
    n = sizeof line - 1;
  write_all (control_fd, line, (size_t)n);
}

static void power_off (void) __attribute__ ((noreturn));

static void
power_off (void)
{
  sync ();
  reboot (RB_POWER_OFF);
  /* -no-reboot turns a reboot into QEMU's exit as well. */
  reboot (RB_AUTOBOOT);
  for (;;)
    pause ();
}

/* A failure before the command ran: the host turns "fail" into exit 125
 * with this message. Newlines would end the control line early. */
static void fail (const char *format, ...) __attribute__ ((format (printf, 1, 2), noreturn));

static void
fail (const char *format, ...)
{
  char msg[900];
  va_list ap;

  va_start (ap, format);
  vsnprintf (msg, sizeof msg, format, ap);
  va_end (ap);
  for (char *p = msg; *p; p++)
    if (*p == '\n')
      *p = ' ';
  if (console_fd >= 0)
    {
      write_all (console_fd, "cbox-qemu-init: ", 16);
      write_all (console_fd, msg, strlen (msg));
      write_all (console_fd, "\n", 1);
    }
  control_say ("fail %s\n", msg);
  power_off ();
}

/* ---- small file helpers -------------------------------------------------- */

static char *
read_file (const char *path, size_t *ret_len)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  size_t len = 0, alloc = 4096;
  char *buf;

  if (fd < 0)
    return NULL;
  buf = malloc (alloc + 1);
  for (;;)
    {
      ssize_t n;
      if (len == alloc)
        {
          alloc *= 2;
          buf = realloc (buf, alloc + 1);
        }
      n = read (fd, buf + len, alloc - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          free (buf);
          close (fd);
          errno = saved;
          return NULL;
        }
      if (n == 0)
        break;
      len += (size_t)n;
    }
  close (fd);
  buf[len] = '\0';
  if (ret_len)
    *ret_len = len;
  return buf;
}

static int
mkdir_p (const char *path, mode_t mode, uid_t uid, gid_t gid)
{
  char buf[PATH_MAX];
  size_t len = strlen (path);

  if (len >= sizeof buf)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memcpy (buf, path, len + 1);
  for (char *p = buf + 1; *p; p++)
    {
      if (*p != '/')
        continue;
      *p = '\0';
      if (mkdir (buf, mode) == 0)
        {
          if (uid != (uid_t)-1 && chown (buf, uid, gid) < 0)
            return -1;
        }
      else if (errno != EEXIST)
        return -1;
      *p = '/';
    }
  if (mkdir (buf, mode) == 0)
    {
      if (uid != (uid_t)-1 && chown (buf, uid, gid) < 0)
        return -1;
    }
  else if (errno != EEXIST)
    return -1;
  return 0;
}

/* ---- kernel modules ------------------------------------------------------ */

static void
load_modules (const char *list_path)
{
  char *list = read_file (list_path, NULL);
  char *save = NULL;

  if (list == NULL)
    return;
  for (char *name = strtok_r (list, "\n", &save); name; name = strtok_r (NULL, "\n", &save))
    {
      char path[PATH_MAX];
      int fd;

      snprintf (path, sizeof path, "/cbox/lib/%s", name);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        fail ("cannot open module %s: %s", path, strerror (errno));
      if (syscall (SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
        fail ("cannot load module %s: %s", name, strerror (errno));
      close (fd);
    }
  free (list);
}

/* ---- virtio-serial ports ------------------------------------------------- */

/* The /dev node of the port called @name, waiting for the driver to
 * announce it; NULL after @timeout_ms. */
static char *
find_port (const char *name, int timeout_ms)
{
  for (int waited = 0; waited <= timeout_ms; waited += 10)
    {
      DIR *dir = opendir ("/sys/class/virtio-ports");
      struct dirent *de;

      while (dir && (de = readdir (dir)))
        {
          char path[PATH_MAX], *content;

          if (de->d_name[0] == '.')
            continue;
          snprintf (path, sizeof path, "/sys/class/virtio-ports/%s/name", de->d_name);
          content = read_file (path, NULL);
          if (content != NULL)
            {
              content[strcspn (content, "\n")] = '\0';
              if (strcmp (content, name) == 0)
                {
                  char *dev = malloc (strlen (de->d_name) + 6);
                  sprintf (dev, "/dev/%s", de->d_name);
                  free (content);
                  closedir (dir);
                  if (access (dev, F_OK) == 0)
                    return dev;
                  free (dev);
                  dir = NULL;
                  break;
                }
              free (content);
            }
        }
      if (dir)
        closedir (dir);
      usleep (10000);
    }
  return NULL;
}

static int
open_port (const char *name, int flags)
{
  char *dev = find_port (name, 60000);
  int fd;

  if (dev == NULL)
    fail ("virtio-serial port %s did not appear", name);
  fd = open (dev, flags | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    fail ("cannot open %s (%s): %s", dev, name, strerror (errno));
  free (dev);
  return fd;
}

static int
wait_for_path (const char *path, int timeout_ms)
{
  for (int waited = 0; waited <= timeout_ms; waited += 10)
    {
      if (access (path, F_OK) == 0)
        return 0;
      usleep (10000);
    }
  return -1;
}

/* ---- the plan ------------------------------------------------------------ */

/* The metadata file is a list of netstrings ("5:hello,"); a record is a
 * keyword followed by a fixed number of fields, so paths may hold any byte
 * but NUL. */
typedef struct
{
  char *buf;
  size_t len, pos;
} Reader;

static char *
next_field (Reader *r)
{
  size_t n = 0;
  char *field;

  if (r->pos >= r->len)
    return NULL;
  while (r->pos < r->len && isdigit ((unsigned char)r->buf[r->pos]))
    n = n * 10 + (size_t)(r->buf[r->pos++] - '0');
  if (r->pos >= r->len || r->buf[r->pos] != ':' || n > r->len - r->pos - 1
      || r->pos + 1 + n >= r->len || r->buf[r->pos + 1 + n] != ',')
    fail ("malformed metadata at byte %zu", r->pos);
  field = r->buf + r->pos + 1;
  field[n] = '\0'; /* overwrites the ',' */
  r->pos += n + 2;
  return field;
}

static char *
need_field (Reader *r, const char *record)
{
  char *field = next_field (r);
  if (field == NULL)
    fail ("metadata record %s is truncated", record);
  return field;
}

typedef struct
{
  uid_t uid;
  gid_t gid;
  char *home;
  char *rundir;
  char *cwd;
  char *hostname;
  int network;
  int allow_userns; /* the seccomp filter lets the command make user namespaces */
  int display;      /* a window: an X server of the guest's own on the virtio-gpu */
  int tty;
  char stdio[3]; /* 'c'losed, 'n'ull, 't'ty, 'p'ort */
  unsigned short rows, cols;
  char **argv;
  size_t argc;
  char **envp;
  size_t envc;
  char **sockets; /* destinations of the relayed unix sockets, in order */
  size_t nsockets;
} Plan;

static void
strv_push (char ***v, size_t *n, char *s)
{
  *v = realloc (*v, sizeof (char *) * (*n + 2));
  (*v)[(*n)++] = s;
  (*v)[*n] = NULL;
}

static int
is_under (const char *path, const char *dir)
{
  size_t len;

  if (dir == NULL || *dir == '\0')
    return 0;
  len = strlen (dir);
  return strncmp (path, dir, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

/* What the init creates in the user's home or runtime directory belongs to
 * the user, as it would in an unprivileged bubblewrap sandbox; the rest of
 * the tree (/, /etc, /run) stays root's. */
static int
owned_by_user (const Plan *plan, const char *dest)
{
  return is_under (dest, plan->home) || is_under (dest, plan->rundir);
}

static void
target_path (char *buf, size_t size, const char *dest)
{
  size_t len = strlen (dest);

  /* The host normalizes destinations; a ".." here would climb out of the
   * new root, so it is refused rather than trusted. */
  if (dest[0] != '/' || strstr (dest, "/../") != NULL
      || (len >= 3 && strcmp (dest + len - 3, "/..") == 0))
    fail ("plan destination %s is not a normalized absolute path", dest);
  if ((size_t)snprintf (buf, size, NEWROOT "%s", dest) >= size)
    fail ("plan destination %s is too long", dest);
}

static void
make_parent (const Plan *plan, const char *target, const char *dest)
{
  char parent[PATH_MAX];
  char *slash;
  int user = owned_by_user (plan, dest);

  snprintf (parent, sizeof parent, "%s", target);
  slash = strrchr (parent, '/');
  if (slash == NULL || slash == parent)
    return;
  *slash = '\0';
  if (mkdir_p (parent, 0755, user ? plan->uid : (uid_t)-1, plan->gid) < 0)
    fail ("cannot create %s: %s", parent + strlen (NEWROOT), strerror (errno));
}

static void
mount_share (const char *tag, const char *fstype, const char *where, int ro)
{
  unsigned long flags = MS_NOSUID | MS_NODEV | (ro ? MS_RDONLY : 0);
  const char *options;

  if (strcmp (fstype, "9p") == 0)
    /* cache=loose for read-only system trees (nothing changes them while the
     * VM runs); cache=mmap for writable ones, which keeps shared writable
     * mmap (SQLite's WAL index) working and sees host changes. */
    options = ro ? "trans=virtio,version=9p2000.L,msize=524288,cache=loose"
                 : "trans=virtio,version=9p2000.L,msize=524288,cache=mmap";
  else
    options = "";
  if (mount (tag, where, fstype, flags, options) < 0)
    fail ("cannot mount share %s (%s) at %s: %s", tag, fstype, where, strerror (errno));
}

/* Each share is mounted once, at /cbox-shares/TAG outside the new root
 * (a virtio 9p channel serves one mount only), and bound from there to each
 * destination that uses it: a whole directory, or one file of it. */
static void
apply_share (const Plan *plan, const char *tag, const char *fstype, const char *dest, int ro,
             const char *subpath)
{
  char target[PATH_MAX], hidden[PATH_MAX], source[PATH_MAX];
  struct stat st;
  int fd;

  target_path (target, sizeof target, dest);
  make_parent (plan, target, dest);
  if ((size_t)snprintf (hidden, sizeof hidden, SHARES "/%s", tag) >= sizeof hidden)
    fail ("share tag %s too long", tag);
  if (access (hidden, F_OK) < 0)
    {
      if (mkdir_p (hidden, 0700, (uid_t)-1, 0) < 0)
        fail ("cannot create %s: %s", hidden, strerror (errno));
      mount_share (tag, fstype, hidden, ro);
    }
  if ((size_t)snprintf (source, sizeof source, "%s%s%s", hidden, *subpath ? "/" : "", subpath)
      >= sizeof source)
    fail ("shared file %s: path too long", dest);
  if (stat (source, &st) < 0)
    fail ("shared path for %s missing in the guest: %s", dest, strerror (errno));
  if (S_ISDIR (st.st_mode))
    {
      if (mkdir (target, 0755) < 0 && errno != EEXIST)
        fail ("cannot create mount point %s: %s", dest, strerror (errno));
    }
  else
    {
      fd = open (target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0 && errno != EEXIST && errno != EISDIR)
        fail ("cannot create mount point %s: %s", dest, strerror (errno));
      if (fd >= 0)
        close (fd);
    }
  if (mount (source, target, NULL, MS_BIND, NULL) < 0)
    fail ("cannot bind %s: %s", dest, strerror (errno));
  if (ro
      && mount (NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL)
             < 0)
    fail ("cannot make %s read-only: %s", dest, strerror (errno));
}

static void
apply_tmpfs (const Plan *plan, const char *dest, mode_t mode)
{
  char target[PATH_MAX], options[64];

  target_path (target, sizeof target, dest);
  make_parent (plan, target, dest);
  if (mkdir (target, 0755) < 0 && errno != EEXIST)
    fail ("cannot create %s: %s", dest, strerror (errno));
  snprintf (options, sizeof options, "mode=%04o", (unsigned)mode);
  if (mount ("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options) < 0)
    fail ("cannot mount tmpfs at %s: %s", dest, strerror (errno));
  if (owned_by_user (plan, dest) && chown (target, plan->uid, plan->gid) < 0)
    fail ("cannot chown %s: %s", dest, strerror (errno));
}

static void
apply_dir (const Plan *plan, const char *dest, mode_t mode)
{
  char target[PATH_MAX];
  int user = owned_by_user (plan, dest);

  target_path (target, sizeof target, dest);
  if (mkdir_p (target, 0755, user ? plan->uid : (uid_t)-1, plan->gid) < 0)
    fail ("cannot create %s: %s", dest, strerror (errno));
  if (chmod (target, mode) < 0)
    fail ("cannot chmod %s: %s", dest, strerror (errno));
}

static void
apply_symlink (const Plan *plan, const char *link_target, const char *dest)
{
  char target[PATH_MAX];

  target_path (target, sizeof target, dest);
  make_parent (plan, target, dest);
  if (symlink (link_target, target) < 0)
    {
      if (errno != EEXIST)
        fail ("cannot create symlink %s: %s", dest, strerror (errno));
      /* Later items go over earlier ones. */
      if ((unlink (target) < 0 && rmdir (target) < 0) || symlink (link_target, target) < 0)
        fail ("cannot replace %s by a symlink: %s", dest, strerror (errno));
    }
}

static void
apply_data (const Plan *plan, const char *file, const char *dest, mode_t mode, int writable)
{
  char target[PATH_MAX], source[PATH_MAX];
  size_t len;
  char *content;
  int fd;

  target_path (target, sizeof target, dest);
  make_parent (plan, target, dest);
  if (strchr (file, '/') != NULL)
    fail ("bad data file name %s", file);
  snprintf (source, sizeof source, META "/%s", file);
  content = read_file (source, &len);
  if (content == NULL)
    fail ("cannot read %s: %s", source, strerror (errno));
  /* A read-only file over one that is already there is always a bound
   * copy, never written in place: in place on a writable share it would
   * replace the host's file (a protected .git/config inside the project)
   * with a new, writable one. */
  {
    struct stat st;
    if (!writable && lstat (target, &st) == 0 && S_ISREG (st.st_mode))
      {
        fd = -1;
        errno = EROFS;
      }
    else
      {
        unlink (target);
        fd = open (target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
      }
  }
  if (fd < 0 && errno == EROFS)
    {
      /* Over a file of a read-only share (the host's /etc): a copy in the
       * init's own memory, with the plan's mode, bound over it. */
      char copy[PATH_MAX];

      if (mkdir_p ("/cbox-data", 0755, (uid_t)-1, 0) < 0)
        fail ("cannot create /cbox-data: %s", strerror (errno));
      snprintf (copy, sizeof copy, "/cbox-data/%s", file);
      fd = open (copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
      if (fd < 0)
        fail ("cannot write %s: %s", copy, strerror (errno));
      write_all (fd, content, len);
      if (fchmod (fd, mode) < 0 || (writable && fchown (fd, plan->uid, plan->gid) < 0))
        fail ("cannot set mode of %s: %s", dest, strerror (errno));
      close (fd);
      if (mount (copy, target, NULL, MS_BIND, NULL) < 0)
        fail ("cannot bind %s over the shared file: %s", dest, strerror (errno));
      if (!writable
          && mount (NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                    NULL)
                 < 0)
        fail ("cannot make %s read-only: %s", dest, strerror (errno));
      free (content);
      return;
    }
  if (fd < 0)
    fail ("cannot write %s: %s", dest, strerror (errno));
  write_all (fd, content, len);
  if (fchmod (fd, mode) < 0 || (writable && fchown (fd, plan->uid, plan->gid) < 0))
    fail ("cannot set mode of %s: %s", dest, strerror (errno));
  close (fd);
  free (content);
}

static void
read_plan (Plan *plan)
{
  Reader r = { 0 };
  char *keyword;

  r.buf = read_file (META "/plan", &r.len);
  if (r.buf == NULL)
    fail ("cannot read " META "/plan: %s", strerror (errno));
  plan->uid = 0;
  plan->gid = 0;
  plan->cwd = "/";
  plan->hostname = "cbox";
  memset (plan->stdio, 'p', sizeof plan->stdio);

  while ((keyword = next_field (&r)) != NULL)
    {
      if (strcmp (keyword, "user") == 0)
        {
          plan->uid = (uid_t)strtoul (need_field (&r, keyword), NULL, 10);
          plan->gid = (gid_t)strtoul (need_field (&r, keyword), NULL, 10);
          plan->home = need_field (&r, keyword);
          plan->rundir = need_field (&r, keyword);
        }
      else if (strcmp (keyword, "cwd") == 0)
        plan->cwd = need_field (&r, keyword);
      else if (strcmp (keyword, "hostname") == 0)
        plan->hostname = need_field (&r, keyword);
      else if (strcmp (keyword, "network") == 0)
        plan->network = atoi (need_field (&r, keyword));
      else if (strcmp (keyword, "userns") == 0)
        plan->allow_userns = atoi (need_field (&r, keyword));
      else if (strcmp (keyword, "display") == 0)
        plan->display = atoi (need_field (&r, keyword));
      else if (strcmp (keyword, "tty") == 0)
        {
          plan->tty = atoi (need_field (&r, keyword));
          plan->rows = (unsigned short)atoi (need_field (&r, keyword));
          plan->cols = (unsigned short)atoi (need_field (&r, keyword));
        }
      else if (strcmp (keyword, "stdio") == 0)
        for (int i = 0; i < 3; i++)
          {
            const char *kind = need_field (&r, keyword);
            if (strcmp (kind, "closed") == 0 || strcmp (kind, "null") == 0
                || strcmp (kind, "tty") == 0 || strcmp (kind, "port") == 0)
              plan->stdio[i] = kind[0];
            else
              fail ("unknown stdio kind %s", kind);
          }
      else if (strcmp (keyword, "socket") == 0)
        strv_push (&plan->sockets, &plan->nsockets, need_field (&r, keyword));
      else if (strcmp (keyword, "arg") == 0)
        strv_push (&plan->argv, &plan->argc, need_field (&r, keyword));
      else if (strcmp (keyword, "env") == 0)
        strv_push (&plan->envp, &plan->envc, need_field (&r, keyword));
      else if (strcmp (keyword, "share") == 0)
        {
          char *tag = need_field (&r, keyword);
          char *fstype = need_field (&r, keyword);
          char *dest = need_field (&r, keyword);
          int ro = atoi (need_field (&r, keyword));
          char *subpath = need_field (&r, keyword);
          apply_share (plan, tag, fstype, dest, ro, subpath);
        }
      else if (strcmp (keyword, "tmpfs") == 0)
        {
          char *dest = need_field (&r, keyword);
          apply_tmpfs (plan, dest, (mode_t)strtoul (need_field (&r, keyword), NULL, 8));
        }
      else if (strcmp (keyword, "dir") == 0)
        {
          char *dest = need_field (&r, keyword);
          apply_dir (plan, dest, (mode_t)strtoul (need_field (&r, keyword), NULL, 8));
        }
      else if (strcmp (keyword, "symlink") == 0)
        {
          char *link_target = need_field (&r, keyword);
          apply_symlink (plan, link_target, need_field (&r, keyword));
        }
      else if (strcmp (keyword, "data") == 0)
        {
          char *file = need_field (&r, keyword);
          char *dest = need_field (&r, keyword);
          mode_t mode = (mode_t)strtoul (need_field (&r, keyword), NULL, 8);
          apply_data (plan, file, dest, mode, atoi (need_field (&r, keyword)));
        }
      else
        fail ("unknown metadata record %s (host and init from different cbox versions?)", keyword);
    }
  if (plan->argc == 0)
    fail ("the plan has no command");
  if (plan->envp == NULL)
    strv_push (&plan->envp, &plan->envc, "PATH=/usr/bin:/bin");
}

/* ---- relayed unix sockets -------------------------------------------------- */

/* A host unix socket cannot cross into this kernel: for each one the plan
 * binds, the init listens at its destination and relays every connection
 * over the virtio-serial port "cbox.sock.N", where cbox opens a connection
 * of its own to the host socket. Frames on the port: a header of two
 * native 32-bit words, connection id and length, then the bytes; length 0
 * closes the connection, CBOX_FRAME_OPEN opens it. Bytes only: descriptors
 * passed with SCM_RIGHTS do not cross. The same framing is in
 * cbox-qemu-run.c. */
#define CBOX_FRAME_OPEN 0xffffffffu
#define CBOX_FRAME_MAX 65536
#define RELAY_MAX_CONNS 64

typedef struct
{
  int fd;
  uint32_t id;
  size_t sock;
} RelayConn;

static int
port_write_frame (int port, uint32_t id, uint32_t len, const char *data)
{
  uint32_t header[2] = { id, len };
  write_all (port, (const char *)header, sizeof header);
  if (len != CBOX_FRAME_OPEN && len > 0)
    write_all (port, data, len);
  return 0;
}

/* The relay of @nsockets sockets (one: each socket has a process of its
 * own, see start_socket_relay()). */
static void
relay_loop (size_t nsockets, int *listeners, int *ports)
{
  RelayConn conns[RELAY_MAX_CONNS];
  size_t nconns = 0;
  uint32_t next_id = 1;
  char **inbuf = calloc (nsockets, sizeof (char *));
  size_t *inlen = calloc (nsockets, sizeof (size_t));
  struct pollfd *pfd = calloc (nsockets * 2 + RELAY_MAX_CONNS, sizeof (struct pollfd));
  static char buf[CBOX_FRAME_MAX];

  for (size_t i = 0; i < nsockets; i++)
    inbuf[i] = malloc (CBOX_FRAME_MAX + 8);
  for (;;)
    {
      size_t n = 0;

      for (size_t i = 0; i < nsockets; i++)
        {
          pfd[n++] = (struct pollfd){ nconns < RELAY_MAX_CONNS ? listeners[i] : -1, POLLIN, 0 };
          pfd[n++] = (struct pollfd){ ports[i], POLLIN, 0 };
        }
      for (size_t c = 0; c < nconns; c++)
        pfd[n++] = (struct pollfd){ conns[c].fd, POLLIN, 0 };
      if (poll (pfd, n, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          _exit (1);
        }
      /* Connections first, from the last: one that ends takes the last
       * one's place, which was already seen this round; then the ports
       * (which may close connections), then new connections. */
      for (size_t c = nconns; c-- > 0;)
        {
          ssize_t got;
          if (!(pfd[nsockets * 2 + c].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
          got = read (conns[c].fd, buf, sizeof buf);
          if (got > 0)
            port_write_frame (ports[conns[c].sock], conns[c].id, (uint32_t)got, buf);
          else if (got == 0 || (errno != EINTR && errno != EAGAIN))
            {
              port_write_frame (ports[conns[c].sock], conns[c].id, 0, NULL);
              close (conns[c].fd);
              conns[c] = conns[--nconns];
            }
        }
      for (size_t i = 0; i < nsockets; i++)
        {
          ssize_t got;
          if (!(pfd[2 * i + 1].revents & (POLLIN | POLLHUP)))
            continue;
          got = read (ports[i], inbuf[i] + inlen[i], CBOX_FRAME_MAX + 8 - inlen[i]);
          if (got <= 0)
            continue;
          inlen[i] += (size_t)got;
          for (;;)
            {
              uint32_t header[2];
              size_t need;
              if (inlen[i] < sizeof header)
                break;
              memcpy (header, inbuf[i], sizeof header);
              if (header[1] > CBOX_FRAME_MAX && header[1] != CBOX_FRAME_OPEN)
                _exit (1); /* the host never sends that */
              need = sizeof header + (header[1] == CBOX_FRAME_OPEN ? 0 : header[1]);
              if (inlen[i] < need)
                break;
              for (size_t c = 0; c < nconns; c++)
                {
                  if (conns[c].id != header[0] || conns[c].sock != i)
                    continue;
                  if (header[1] == 0)
                    {
                      close (conns[c].fd);
                      conns[c] = conns[--nconns];
                    }
                  else if (header[1] != CBOX_FRAME_OPEN)
                    write_all (conns[c].fd, inbuf[i] + sizeof header, header[1]);
                  break;
                }
              memmove (inbuf[i], inbuf[i] + need, inlen[i] - need);
              inlen[i] -= need;
            }
        }
      for (size_t i = 0; i < nsockets; i++)
        {
          int fd;
          if (!(pfd[2 * i].revents & POLLIN) || nconns >= RELAY_MAX_CONNS)
            continue;
          fd = accept4 (listeners[i], NULL, NULL, SOCK_CLOEXEC);
          if (fd < 0)
            continue;
          conns[nconns++] = (RelayConn){ fd, next_id, i };
          port_write_frame (ports[i], next_id++, CBOX_FRAME_OPEN, NULL);
        }
    }
}

/* Listens at each relayed socket's destination (before the switch to the
 * new root, so the path is under NEWROOT) and starts a relay process for
 * each socket. One process per socket, not one for all: its writes block
 * (on a guest client that does not read, or on the port when cbox holds
 * it back because the host server does not read), and that must hold
 * back only the socket concerned, never the others. */
static void
start_socket_relay (const Plan *plan)
{
  int *listeners, *ports;

  if (plan->nsockets == 0)
    return;
  listeners = calloc (plan->nsockets, sizeof (int));
  ports = calloc (plan->nsockets, sizeof (int));
  for (size_t i = 0; i < plan->nsockets; i++)
    {
      struct sockaddr_un addr = { .sun_family = AF_UNIX };
      char target[PATH_MAX], port_name[32];

      target_path (target, sizeof target, plan->sockets[i]);
      make_parent (plan, target, plan->sockets[i]);
      if (strlen (target) >= sizeof addr.sun_path)
        fail ("socket path %s is too long", plan->sockets[i]);
      strcpy (addr.sun_path, target);
      unlink (target);
      listeners[i] = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (listeners[i] < 0 || bind (listeners[i], (struct sockaddr *)&addr, sizeof addr) < 0
          || listen (listeners[i], 16) < 0)
        fail ("cannot listen at %s: %s", plan->sockets[i], strerror (errno));
      /* The command's user connects to it, as to the host socket. */
      if (chown (target, plan->uid, plan->gid) < 0 || chmod (target, 0600) < 0)
        fail ("cannot hand %s to the user: %s", plan->sockets[i], strerror (errno));
      snprintf (port_name, sizeof port_name, "cbox.sock.%zu", i);
      ports[i] = open_port (port_name, O_RDWR);
    }
  for (size_t i = 0; i < plan->nsockets; i++)
    {
      pid_t pid = fork ();
      if (pid < 0)
        fail ("fork: %s", strerror (errno));
      if (pid == 0)
        {
          sigset_t none;
          sigemptyset (&none);
          sigprocmask (SIG_SETMASK, &none, NULL);
          signal (SIGPIPE, SIG_IGN);
          /* Bytes only: it needs no privilege. */
          if (setgroups (0, NULL) < 0 || setresgid (plan->gid, plan->gid, plan->gid) < 0
              || setresuid (plan->uid, plan->uid, plan->uid) < 0)
            _exit (1);
          for (size_t j = 0; j < plan->nsockets; j++)
            if (j != i)
              {
                close (listeners[j]);
                close (ports[j]);
              }
          relay_loop (1, &listeners[i], &ports[i]);
          _exit (0);
        }
    }
  for (size_t i = 0; i < plan->nsockets; i++)
    {
      close (listeners[i]);
      close (ports[i]);
    }
  free (listeners);
  free (ports);
}

/* ---- network ------------------------------------------------------------- */

static void
set_addr (struct sockaddr *sa, const char *ip)
{
  struct sockaddr_in *in = (struct sockaddr_in *)sa;
  memset (in, 0, sizeof *in);
  in->sin_family = AF_INET;
  inet_pton (AF_INET, ip, &in->sin_addr);
}

static void
interface_up (int sock, const char *name, const char *ip, const char *mask)
{
  struct ifreq ifr;

  memset (&ifr, 0, sizeof ifr);
  snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  if (ip != NULL)
    {
      set_addr (&ifr.ifr_addr, ip);
      if (ioctl (sock, SIOCSIFADDR, &ifr) < 0)
        fail ("cannot set the address of %s: %s", name, strerror (errno));
      set_addr (&ifr.ifr_netmask, mask);
      if (ioctl (sock, SIOCSIFNETMASK, &ifr) < 0)
        fail ("cannot set the netmask of %s: %s", name, strerror (errno));
    }
  if (ioctl (sock, SIOCGIFFLAGS, &ifr) < 0)
    fail ("no network interface %s: %s", name, strerror (errno));
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl (sock, SIOCSIFFLAGS, &ifr) < 0)
    fail ("cannot bring %s up: %s", name, strerror (errno));
}

/* QEMU's user-mode network (slirp) has fixed addresses: the guest is
 * 10.0.2.15, the gateway 10.0.2.2 and the DNS forwarder 10.0.2.3. */
static void
setup_network (const Plan *plan)
{
  int sock = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  char ifname[IFNAMSIZ] = "";
  DIR *dir;
  struct dirent *de;

  if (sock < 0)
    fail ("socket: %s", strerror (errno));
  interface_up (sock, "lo", NULL, NULL);
  if (!plan->network)
    {
      close (sock);
      return;
    }
  for (int waited = 0; waited < 30000 && ifname[0] == '\0'; waited += 10)
    {
      dir = opendir ("/sys/class/net");
      while (dir && (de = readdir (dir)))
        if (de->d_name[0] != '.' && strcmp (de->d_name, "lo") != 0
            && strlen (de->d_name) < IFNAMSIZ)
          memcpy (ifname, de->d_name, strlen (de->d_name) + 1);
      if (dir)
        closedir (dir);
      if (ifname[0] == '\0')
        usleep (10000);
    }
  if (ifname[0] == '\0')
    fail ("network requested but no network interface appeared");
  interface_up (sock, ifname, "10.0.2.15", "255.255.255.0");
  {
    struct rtentry rt;
    memset (&rt, 0, sizeof rt);
    set_addr (&rt.rt_dst, "0.0.0.0");
    set_addr (&rt.rt_genmask, "0.0.0.0");
    set_addr (&rt.rt_gateway, "10.0.2.2");
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = ifname;
    if (ioctl (sock, SIOCADDRT, &rt) < 0)
      fail ("cannot add the default route: %s", strerror (errno));
  }
  close (sock);
}

/* The host's resolv.conf (bound by a forwarder, or none) may name a
 * resolver on the host's loopback; inside, only slirp's forwarder works. */
static void
write_resolv_conf (void)
{
  static const char content[]
      = "# written by cbox-qemu-init: QEMU user-mode DNS\nnameserver 10.0.2.3\n";
  int fd;

  if (mkdir_p ("/cbox-etc", 0755, (uid_t)-1, 0) < 0)
    fail ("cannot create /cbox-etc: %s", strerror (errno));
  fd = open ("/cbox-etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail ("cannot write resolv.conf: %s", strerror (errno));
  write_all (fd, content, sizeof content - 1);
  close (fd);
  if (mkdir_p (NEWROOT "/etc", 0755, (uid_t)-1, 0) < 0)
    fail ("cannot create /etc: %s", strerror (errno));
  unlink (NEWROOT "/etc/resolv.conf");
  fd = open (NEWROOT "/etc/resolv.conf", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0)
    close (fd);
  if (mount ("/cbox-etc/resolv.conf", NEWROOT "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0)
    fail ("cannot bind resolv.conf: %s", strerror (errno));
}

/* ---- the system mounts every sandbox has ---------------------------------- */

static void
mount_api_filesystems (const Plan *plan)
{
  static const char *const links[][2] = {
    { "/proc/self/fd", "/dev/fd" },
    { "/proc/self/fd/0", "/dev/stdin" },
    { "/proc/self/fd/1", "/dev/stdout" },
    { "/proc/self/fd/2", "/dev/stderr" },
  };

  if (mkdir_p (NEWROOT "/proc", 0555, (uid_t)-1, 0) < 0
      || mkdir_p (NEWROOT "/sys", 0555, (uid_t)-1, 0) < 0
      || mkdir_p (NEWROOT "/dev", 0755, (uid_t)-1, 0) < 0)
    fail ("cannot create /proc, /sys, /dev: %s", strerror (errno));
  if (mount ("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    fail ("cannot mount /proc: %s", strerror (errno));
  /* The kernel lets uid 0 write /proc/sys (core_pattern: a program the
   * guest's kernel runs with every capability at the next crash) and
   * /proc/sysrq-trigger with no capability at all: read-only for a root
   * command, whose capabilities the confinement takes. */
  {
    static const char *const read_only[] = { NEWROOT "/proc/sys", NEWROOT "/proc/sysrq-trigger" };
    for (size_t i = 0; i < sizeof read_only / sizeof read_only[0]; i++)
      {
        if (access (read_only[i], F_OK) < 0)
          continue;
        if (mount (read_only[i], read_only[i], NULL, MS_BIND, NULL) < 0
            || mount (NULL, read_only[i], NULL,
                      MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)
                   < 0)
          fail ("cannot make %s read-only: %s", read_only[i] + strlen (NEWROOT), strerror (errno));
      }
  }
  if (mount ("sysfs", NEWROOT "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL)
      < 0)
    fail ("cannot mount /sys: %s", strerror (errno));
  if (mount ("devtmpfs", NEWROOT "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, NULL) < 0)
    fail ("cannot mount /dev: %s", strerror (errno));
  mkdir (NEWROOT "/dev/pts", 0755);
  if (mount ("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
             "gid=5,mode=620,ptmxmode=666")
      < 0)
    fail ("cannot mount /dev/pts: %s", strerror (errno));
  mkdir (NEWROOT "/dev/shm", 01777);
  if (mount ("tmpfs", NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
    fail ("cannot mount /dev/shm: %s", strerror (errno));
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    {
      char path[PATH_MAX];
      snprintf (path, sizeof path, NEWROOT "%s", links[i][1]);
      if (symlink (links[i][0], path) < 0 && errno != EEXIST)
        fail ("cannot create %s: %s", links[i][1], strerror (errno));
    }
  (void)plan;
}

/* ---- a window ------------------------------------------------------------------ */

/* The X server of a window: Xorg from the plan's /usr (the host's), as
 * root of the guest, on the virtio-gpu's /dev/dri/card0 with the
 * modesetting driver; QEMU shows that card's screen in a window on the
 * host's display. The command is its only client: it never talks to the
 * host's X server (whose cookies it is not given), and QEMU, a client of
 * the host's display, passes only pixels out and input events in (no
 * clipboard, no GL). Root here is root of the guest, whose kernel is the
 * boundary; the command itself stays confined as always. Called after
 * the switch to the new root; returns once the server accepts
 * connections on :0. */
static int exit_status_of (int status);

#define CBOX_XORG_CONFIG "/tmp/.X11-unix/.cbox-xorg.conf"

/* Keyboard and pointer of the window: QEMU sends what the window gets to
 * the guest's virtio-keyboard and virtio-tablet (absolute, so the guest's
 * pointer is where the host's is over the window). The guest runs no
 * udev, so Xorg's hot-plugging finds no device: this config names each
 * event device for the evdev driver (xserver-xorg-input-evdev in the
 * plan's /usr) and leaves the rest (screen, modesetting) to Xorg's own
 * defaults. Without the driver the window still shows, without input
 * (Xorg's log, in the serial log, says so). Returns the config's path,
 * or NULL when no input device appeared. */
static const char *
write_input_config (void)
{
  DIR *dir;
  struct dirent *entry;
  FILE *config;
  int fd, n = 0;

  /* Two devices: the keyboard and the tablet (modules just loaded). */
  if (wait_for_path ("/dev/input/event1", 5000) < 0 && access ("/dev/input/event0", F_OK) < 0)
    return NULL;
  dir = opendir ("/dev/input");
  if (dir == NULL)
    return NULL;
  fd = open (CBOX_XORG_CONFIG, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  config = fd >= 0 ? fdopen (fd, "w") : NULL;
  if (config == NULL)
    fail ("cannot create " CBOX_XORG_CONFIG ": %s", strerror (errno));
  fputs ("Section \"ServerFlags\"\n  Option \"AutoAddDevices\" \"false\"\nEndSection\n", config);
  while ((entry = readdir (dir)) != NULL)
    if (strncmp (entry->d_name, "event", 5) == 0)
      fprintf (config,
               "Section \"InputDevice\"\n  Identifier \"cbox-%s\"\n  Driver \"evdev\"\n"
               "  Option \"Device\" \"/dev/input/%s\"\nEndSection\n",
               entry->d_name, entry->d_name);
  rewinddir (dir);
  fputs ("Section \"ServerLayout\"\n  Identifier \"cbox\"\n", config);
  while ((entry = readdir (dir)) != NULL)
    if (strncmp (entry->d_name, "event", 5) == 0 && ++n)
      fprintf (config, "  InputDevice \"cbox-%s\"\n", entry->d_name);
  fputs ("EndSection\n", config);
  closedir (dir);
  if (fclose (config) != 0)
    fail ("cannot write " CBOX_XORG_CONFIG ": %s", strerror (errno));
  return n > 0 ? CBOX_XORG_CONFIG : NULL;
}

static void
start_display (void)
{
  const char *input_config;
  static const char *const candidates[]
      = { "/usr/lib/xorg/Xorg", "/usr/libexec/Xorg", "/usr/bin/Xorg", NULL };
  const char *xorg = NULL;
  pid_t pid;

  for (size_t i = 0; candidates[i] != NULL && xorg == NULL; i++)
    {
      struct stat st;
      /* /usr/bin/Xorg is a shell script around a setuid wrapper on Debian:
       * only a real program will do. */
      if (stat (candidates[i], &st) == 0 && S_ISREG (st.st_mode) && st.st_size > 65536)
        xorg = candidates[i];
    }
  if (xorg == NULL)
    fail ("a window needs Xorg in the guest's /usr (apt install xserver-xorg-core)");
  if (access ("/dev/dri/card0", F_OK) < 0 && wait_for_path ("/dev/dri/card0", 10000) < 0)
    fail ("a window needs the virtio-gpu, but /dev/dri/card0 did not appear");
  if (mkdir_p ("/tmp/.X11-unix", 01777, (uid_t)-1, 0) < 0 || chmod ("/tmp/.X11-unix", 01777) < 0)
    fail ("cannot create /tmp/.X11-unix: %s", strerror (errno));
  input_config = write_input_config ();
  pid = fork ();
  if (pid < 0)
    fail ("fork: %s", strerror (errno));
  if (pid == 0)
    {
      sigset_t none;
      int null_fd = open ("/dev/null", O_RDWR);

      sigemptyset (&none);
      sigprocmask (SIG_SETMASK, &none, NULL);
      setsid ();
      /* Its messages go to the serial log (cbox -v shows them). */
      dup2 (null_fd, 0);
      dup2 (console_fd >= 0 ? console_fd : null_fd, 1);
      dup2 (console_fd >= 0 ? console_fd : null_fd, 2);
      if (input_config != NULL)
        execl (xorg, xorg, ":0", "-nolisten", "tcp", "-noreset", "-novtswitch", "-logfile",
               "/tmp/.X11-unix/.cbox-Xorg.log", "-config", input_config, "vt1", (char *)NULL);
      else
        execl (xorg, xorg, ":0", "-nolisten", "tcp", "-noreset", "-novtswitch", "-logfile",
               "/tmp/.X11-unix/.cbox-Xorg.log", "vt1", (char *)NULL);
      _exit (127);
    }
  for (int waited = 0;; waited += 20)
    {
      int wstatus;
      if (access ("/tmp/.X11-unix/X0", F_OK) == 0)
        break;
      if (waitpid (pid, &wstatus, WNOHANG) == pid)
        fail ("the guest's X server %s ended (status %d) before it accepted connections; the "
              "serial log (cbox -v) has its messages",
              xorg, exit_status_of (wstatus));
      if (waited > 300000)
        fail ("the guest's X server %s did not start within 300 s", xorg);
      usleep (20000);
    }
}

/* ---- running the command --------------------------------------------------- */

static int
exit_status_of (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return 125;
}

/* @fds: what the command gets as 0, 1, 2; -1 for a closed one. */
static pid_t
spawn_command (const Plan *plan, const int fds[3], int *ret_exec_pipe)
{
  int pipefd[2];
  pid_t pid;

  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    fail ("pipe: %s", strerror (errno));
  pid = fork ();
  if (pid < 0)
    fail ("fork: %s", strerror (errno));
  if (pid == 0)
    {
      extern char **environ;
      sigset_t none;
      int err;

      sigemptyset (&none);
      sigprocmask (SIG_SETMASK, &none, NULL);
      int moved[3];

      setsid ();
      /* PID 1 started without stdio (no /dev/console in the initramfs), so
       * the ports it opened may sit at 0, 1 or 2 themselves: move the
       * sources out of the way first, then place or close each number. A
       * stream closed on the host is closed here, never another file. */
      for (int i = 0; i < 3; i++)
        {
          moved[i] = fds[i] >= 0 ? fcntl (fds[i], F_DUPFD_CLOEXEC, 10) : -1;
          if (fds[i] >= 0 && moved[i] < 0)
            _exit (125);
        }
      for (int i = 0; i < 3; i++)
        {
          if (moved[i] >= 0 ? dup2 (moved[i], i) < 0 : (close (i), 0))
            _exit (125);
        }
      if (plan->tty)
        {
          for (int i = 0; i < 3; i++)
            if (plan->stdio[i] == 't')
              {
                ioctl (i, TIOCSCTTY, 0);
                tcsetpgrp (i, getpid ());
                break;
              }
        }
      if (setgroups (0, NULL) < 0 || setresgid (plan->gid, plan->gid, plan->gid) < 0
          || setresuid (plan->uid, plan->uid, plan->uid) < 0)
        {
          err = errno;
          dprintf (2, "cbox: cannot drop to uid %u gid %u: %s\n", (unsigned)plan->uid,
                   (unsigned)plan->gid, strerror (err));
          _exit (125);
        }
      if (chdir (plan->cwd) < 0)
        {
          dprintf (2, "cbox: cannot change to %s: %s\n", plan->cwd, strerror (errno));
          _exit (125);
        }
      /* Confined as every backend's command is (core/cbox-confine.c):
       * a root command (cbox run by root) keeps no capability over the
       * guest's mounts (the covers over hidden paths) and devices; the
       * same seccomp filter as bwrap's and nspawn's; a fresh keyring. */
      {
        const char *what = NULL;
        int r = cbox_confine (plan->allow_userns ? CBOX_SECCOMP_ALLOW_USERNS : CBOX_SECCOMP_DEFAULT,
                              &what);
        if (r < 0)
          {
            dprintf (2, "cbox: %s: %s\n", what, strerror (-r));
            _exit (125);
          }
      }
      environ = plan->envp;
      execvp (plan->argv[0], plan->argv);
      err = errno;
      write_all (pipefd[1], (const char *)&err, sizeof err);
      dprintf (2, "cbox: %s: %s\n", plan->argv[0], strerror (err));
      _exit (err == ENOENT ? 127 : 126);
    }
  close (pipefd[1]);
  *ret_exec_pipe = pipefd[0];
  return pid;
}

/* Host to guest control lines: "signal N" (pass a signal to the command),
 * "winch ROWS COLS" (the terminal was resized). */
static void
handle_control_input (char *buf, size_t *len, pid_t child, int tty_fd)
{
  char *nl;

  while ((nl = memchr (buf, '\n', *len)) != NULL)
    {
      size_t line_len = (size_t)(nl - buf) + 1;
      *nl = '\0';
      if (strncmp (buf, "signal ", 7) == 0)
        {
          int sig = atoi (buf + 7);
          if (sig > 0 && sig < 65)
            kill (-child, sig) < 0 ? kill (child, sig) : 0;
        }
      else if (strncmp (buf, "winch ", 6) == 0 && tty_fd >= 0)
        {
          struct winsize ws = { 0 };
          unsigned rows = 0, cols = 0;
          if (sscanf (buf + 6, "%u %u", &rows, &cols) == 2)
            {
              ws.ws_row = (unsigned short)rows;
              ws.ws_col = (unsigned short)cols;
              ioctl (tty_fd, TIOCSWINSZ, &ws);
            }
        }
      memmove (buf, buf + line_len, *len - line_len);
      *len -= line_len;
    }
  if (*len == 1024)
    *len = 0; /* a line that long is garbage */
}

int
main (int argc, char **argv)
{
  Plan plan = { 0 };
  sigset_t mask;
  int sfd, fds[3] = { -1, -1, -1 }, tty_fd = -1, exec_pipe, status = 125;
  pid_t child;
  char cbuf[1024];
  size_t clen = 0;

  (void)argc;
  (void)argv;
  if (getpid () != 1)
    {
      fprintf (stderr, "cbox-qemu-init: runs only as PID 1 of a cbox VM\n");
      return 125;
    }
  umask (022);
  mkdir ("/proc", 0555);
  mkdir ("/sys", 0555);
  mkdir ("/dev", 0755);
  mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount ("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL);
  console_fd = open ("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  stage ("started");

  load_modules ("/cbox/modules");
  stage ("modules loaded");
  control_fd = open_port ("cbox.control", O_RDWR);
  control_say ("alive\n");
  stage ("alive, mounting shares");

  if (mkdir_p (META, 0700, (uid_t)-1, 0) < 0)
    fail ("cannot create " META ": %s", strerror (errno));
  mount_share ("cbox-meta", "9p", META, 1);
  if (mkdir_p (NEWROOT, 0755, (uid_t)-1, 0) < 0
      || mount ("tmpfs", NEWROOT, "tmpfs", MS_NOSUID, "mode=0755") < 0)
    fail ("cannot mount the new root: %s", strerror (errno));
  read_plan (&plan);
  if (plan.display)
    load_modules ("/cbox/display-modules");
  start_socket_relay (&plan);
  stage ("plan applied");
  setup_network (&plan);
  if (plan.network)
    write_resolv_conf ();
  if (sethostname (plan.hostname, strlen (plan.hostname)) < 0)
    fail ("sethostname: %s", strerror (errno));
  mount_api_filesystems (&plan);

  /* The command's stdio, each stream what it is on the host: a terminal is
   * the console (a real tty inside), /dev/null is /dev/null, a closed
   * stream stays closed, anything else is its own port (pipes keep their
   * end of file, stderr stays apart). */
  if (plan.tty)
    {
      struct winsize ws = { .ws_row = plan.rows, .ws_col = plan.cols };
      if (wait_for_path ("/dev/hvc0", 60000) < 0)
        fail ("the console /dev/hvc0 did not appear");
      tty_fd = open ("/dev/hvc0", O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (tty_fd < 0)
        fail ("cannot open /dev/hvc0: %s", strerror (errno));
      if (fchown (tty_fd, plan.uid, plan.gid) < 0)
        fail ("cannot chown /dev/hvc0: %s", strerror (errno));
      if (plan.rows && plan.cols)
        ioctl (tty_fd, TIOCSWINSZ, &ws);
    }
  for (int i = 0; i < 3; i++)
    {
      static const char *const ports[] = { "cbox.stdin", "cbox.stdout", "cbox.stderr" };
      int flags = i == 0 ? O_RDONLY : O_WRONLY;

      switch (plan.stdio[i])
        {
        case 't':
          if (tty_fd < 0)
            fail ("stdio %d is a terminal but the plan has no console", i);
          fds[i] = tty_fd;
          break;
        case 'n':
          fds[i] = open ("/dev/null", flags | O_CLOEXEC);
          if (fds[i] < 0)
            fail ("cannot open /dev/null: %s", strerror (errno));
          break;
        case 'p':
          fds[i] = open_port (ports[i], flags);
          break;
        default:
          fds[i] = -1;
          break;
        }
    }

  if (chdir (NEWROOT) < 0 || mount (NEWROOT, "/", NULL, MS_MOVE, NULL) < 0 || chroot (".") < 0
      || chdir ("/") < 0)
    fail ("cannot switch to the new root: %s", strerror (errno));

  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0)
    fail ("signalfd: %s", strerror (errno));

  /* The host sends the user's input only from now on: bytes (and an end
   * of file) sent before the port is open would be lost. */
  if (plan.display)
    {
      stage ("starting the X server of the window");
      start_display ();
    }
  control_say ("ready\n");
  stage ("ready, running the command");
  child = spawn_command (&plan, fds, &exec_pipe);
  /* Only the command holds the ports now: its end of a stream is the end. */
  for (int i = 0; i < 3; i++)
    if (fds[i] >= 0 && fds[i] != tty_fd)
      close (fds[i]);
  close (exec_pipe);

  for (;;)
    {
      struct pollfd pfd[2] = { { sfd, POLLIN, 0 }, { control_fd, POLLIN, 0 } };
      int done = 0;

      if (poll (pfd, 2, -1) < 0 && errno != EINTR)
        fail ("poll: %s", strerror (errno));
      if (pfd[1].revents & POLLIN)
        {
          ssize_t n = read (control_fd, cbuf + clen, sizeof cbuf - clen);
          if (n > 0)
            {
              clen += (size_t)n;
              handle_control_input (cbuf, &clen, child, tty_fd);
            }
        }
      if (pfd[0].revents & POLLIN)
        {
          struct signalfd_siginfo si;
          pid_t pid;
          int wstatus;

          while (read (sfd, &si, sizeof si) > 0)
            ;
          while ((pid = waitpid (-1, &wstatus, WNOHANG)) > 0)
            if (pid == child)
              {
                status = exit_status_of (wstatus);
                done = 1;
              }
        }
      if (done)
        break;
    }

  stage ("the command ended");
  /* Nothing outlives the command: as with a container's PID 1. */
  kill (-1, SIGKILL);
  while (waitpid (-1, NULL, 0) > 0)
    ;
  if (tty_fd >= 0)
    tcdrain (tty_fd);
  control_say ("exit %d\n", status);
  stage ("powering off");
  power_off ();
}
