/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-private.h"

/* The top-level entries a merged-/usr system links into /usr. */
static const char *const cbox_usr_links[] = { "bin", "sbin", "lib", "lib64", "lib32", "libx32" };

static gboolean
cbox_base_add_system (CboxPlan *plan, const CboxHost *host, const char *usr_dir, GError **error)
{
  if (usr_dir != NULL)
    {
      g_autofree char *resolved = cbox_host_resolve (host, usr_dir);
      if (!g_file_test (resolved, G_FILE_TEST_IS_DIR))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "The configured system tree %s is not a directory (key 'usr' in [cbox])",
                       usr_dir);
          return FALSE;
        }
      cbox_plan_add_bind_ro (plan, resolved, "/usr", CBOX_MOUNT_FLAG_NONE);
    }
  else if (cbox_host_is_nixos (host))
    {
      /* NixOS keeps everything in the store; /usr holds only /usr/bin/env. */
      g_autofree char *store = cbox_host_resolve (host, "/nix/store");
      g_autofree char *sw = cbox_host_resolve (host, "/run/current-system/sw");
      g_autofree char *env = cbox_host_resolve (host, "/usr/bin/env");

      cbox_plan_add_bind_ro (plan, store, "/nix/store", CBOX_MOUNT_FLAG_NONE);
      cbox_plan_add_bind_ro (plan, sw, "/run/current-system/sw", CBOX_MOUNT_FLAG_NONE);
      cbox_plan_add_bind_ro (plan, env, "/usr/bin/env", CBOX_MOUNT_FLAG_ALLOW_MISSING);
      cbox_plan_add_symlink (plan, "/run/current-system/sw/bin", "/bin");
      return TRUE;
    }
  else
    {
      g_autofree char *usr = cbox_host_resolve (host, "/usr");
      cbox_plan_add_bind_ro (plan, usr, "/usr", CBOX_MOUNT_FLAG_NONE);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (cbox_usr_links); i++)
    {
      g_autofree char *dest = g_strconcat ("/", cbox_usr_links[i], NULL);
      g_autofree char *path = cbox_host_resolve (host, dest);
      GStatBuf st;

      if (g_lstat (path, &st) < 0)
        continue;
      if (S_ISLNK (st.st_mode))
        {
          /* Merged /usr: recreate the link as the host has it ("usr/bin"),
           * so it points into the /usr the sandbox sees. */
          g_autofree char *target = g_file_read_link (path, NULL);
          if (target != NULL)
            cbox_plan_add_symlink (plan, target, dest);
        }
      else if (S_ISDIR (st.st_mode))
        cbox_plan_add_bind_ro (plan, path, dest, CBOX_MOUNT_FLAG_NONE);
    }
  return TRUE;
}

/* ---- the host's /etc ------------------------------------------------------
 *
 * Programs from the host's /usr expect the host's /etc: Debian's /usr/bin
 * links go through /etc/alternatives (awk, which, cc, vi, pager, nc, java),
 * /usr/bin/chromium sources /etc/chromium.d, java reads /etc/java-N, ld.so
 * reads /etc/ld.so.cache, and every distribution adds its own. An allowlist
 * that keeps up with what Debian, Fedora, Arch and NixOS packages read is a
 * list nobody can finish, and each gap is a program that fails inside. So
 * the sandbox gets the host's /etc, read-only (the sandbox can change
 * nothing there), with cbox's generated files over it (passwd, group,
 * machine-id, the offline hosts) and the secrets below hidden.
 *
 * What hides a secret: for a user's sandbox, the host's permissions still
 * apply inside (bwrap maps the user to itself, nspawn drops to the user), so
 * root-only files stay unreadable; a sandbox run by root is the case to
 * defend. Hidden are (1) for a sandbox whose user is root, every
 * top-level entry of /etc that others may not read (shadow, gshadow,
 * sudoers, sudoers.d, wireguard, credstore, ...): whatever root keeps
 * private there stays private, named here or not; and
 * (2) the list below, deeper in /etc or readable by all but still secret
 * (a world-readable pip.conf or apt auth file can hold a token, NixOS'
 * configuration.nix hashed passwords). A file is hidden under an empty,
 * unreadable one (/dev/null bound on a nodev mount), a folder under an empty
 * tmpfs. Deeper root-only entries that are not listed stay visible as
 * entries, and readable by a root sandbox: that gap is why the list names
 * every common one; docs/security.md says so. */
static const char *const cbox_etc_secrets[] = {
  "shadow",
  "shadow-",
  "gshadow",
  "gshadow-",
  "sudoers",
  "sudoers.d",
  "security/opasswd",
  /* TLS and VPN keys, Wi-Fi and network passwords. */
  "ssl/private",
  "pki/tls/private",
  "pki/CA/private",
  "letsencrypt",
  "NetworkManager/system-connections",
  "wpa_supplicant",
  "iwd",
  "wireguard",
  "openvpn",
  "ipsec.secrets",
  "ipsec.d/private",
  "swanctl/private",
  "ppp/chap-secrets",
  "ppp/pap-secrets",
  "tinc",
  /* Kerberos, directory services, systemd credentials, disk keys. */
  "krb5.keytab",
  "sssd",
  "credstore",
  "credstore.encrypted",
  "cryptsetup-keys.d",
  "crypttab",
  "samba/smbpasswd",
  "libvirt/secrets",
  /* Tokens in world-readable configuration. */
  "apt/auth.conf",
  "apt/auth.conf.d",
  "pip.conf",
  "npmrc",
  "docker/key.json",
  "containers/auth.json",
  "kubernetes",
  "rancher",
  "gitlab-runner",
  "mysql/debian.cnf",
  /* NixOS: configuration.nix may hold password hashes and secrets. */
  "nixos",
  /* The host's SSH identity. */
  "ssh/ssh_host_dsa_key",
  "ssh/ssh_host_ecdsa_key",
  "ssh/ssh_host_ed25519_key",
  "ssh/ssh_host_rsa_key",
};

static void
cbox_base_hide (CboxPlan *plan, const char *dest, gboolean is_dir)
{
  if (cbox_plan_find_mount (plan, dest) != NULL)
    return;
  if (is_dir)
    cbox_plan_add_tmpfs (plan, dest, 0700);
  else
    cbox_plan_add_bind_ro (plan, "/dev/null", dest, CBOX_MOUNT_FLAG_NONE);
}

/* TRUE when the host has a /etc folder (below the root prefix), bound. */
static gboolean
cbox_base_add_etc (CboxPlan *plan, const CboxHost *host)
{
  g_autofree char *etc = cbox_host_resolve (host, "/etc");
  g_autoptr (GDir) dir = NULL;
  int etc_fd;
  const char *name;
  GStatBuf st;

  if (g_stat (etc, &st) < 0 || !S_ISDIR (st.st_mode))
    {
      cbox_plan_add_dir (plan, "/etc", 0755);
      return FALSE;
    }
  cbox_plan_add_bind_ro (plan, etc, "/etc", CBOX_MOUNT_FLAG_NONE);

  etc_fd = open (etc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  /* The scan by mode only for a sandbox whose user is root: for any other
   * user the kernel refuses those entries inside as outside, and the scan
   * (a stat of each of the ~160 entries of a Debian /etc, about 0.15 ms on
   * an idle machine) is not paid on every run. */
  if (cbox_host_get_uid (host) == 0)
    dir = g_dir_open (etc, 0, NULL);
  while (etc_fd >= 0 && dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      struct stat entry;
      gboolean is_dir;
      g_autofree char *dest = NULL;

      if (fstatat (etc_fd, name, &entry, AT_SYMLINK_NOFOLLOW) < 0 || S_ISLNK (entry.st_mode))
        continue;
      is_dir = S_ISDIR (entry.st_mode);
      /* Readable by others (and, for a folder, searchable): public. */
      if ((entry.st_mode & S_IROTH) && (!is_dir || (entry.st_mode & S_IXOTH)))
        continue;
      dest = g_strconcat ("/etc/", name, NULL);
      cbox_base_hide (plan, dest, is_dir);
    }
  for (gsize i = 0; etc_fd >= 0 && i < G_N_ELEMENTS (cbox_etc_secrets); i++)
    {
      struct stat entry;
      g_autofree char *dest = NULL;

      /* Followed: a link to a secret hides what it leads to. */
      if (fstatat (etc_fd, cbox_etc_secrets[i], &entry, 0) < 0)
        continue;
      dest = g_strconcat ("/etc/", cbox_etc_secrets[i], NULL);
      cbox_base_hide (plan, dest, S_ISDIR (entry.st_mode));
    }
  if (etc_fd >= 0)
    close (etc_fd);
  return TRUE;
}

/* Generated /etc/@name over the host's read-only /etc: a bind needs a file
 * to go over, so when the host has none there, the item is left out with a
 * note (nothing can be created in a read-only bind). */
static gboolean
cbox_base_add_etc_data (CboxPlan *plan, const CboxHost *host, gboolean etc_bound, const char *name,
                        const char *content, gsize len, GError **error)
{
  g_autofree char *dest = g_strconcat ("/etc/", name, NULL);

  if (etc_bound)
    {
      g_autofree char *path = cbox_host_resolve (host, dest);
      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
        {
          cbox_plan_add_note (plan, "the host has no file %s: the sandbox has none either", dest);
          return TRUE;
        }
    }
  return cbox_plan_add_data (plan, dest, content, len, 0644, CBOX_MOUNT_FLAG_NONE, error);
}

/* A field of passwd(5) or group(5) cannot hold ':' or a newline; a name or
 * path that does would forge extra fields or lines. */
static gboolean
cbox_base_field_is_safe (const char *field)
{
  return field != NULL && strpbrk (field, ":\n") == NULL;
}

static gboolean
cbox_base_add_identity_files (CboxPlan *plan, const CboxHost *host, gboolean etc_bound,
                              GError **error)
{
  uid_t uid = cbox_host_get_uid (host);
  gid_t gid = cbox_host_get_gid (host);
  const char *user = cbox_host_get_user_name (host);
  const char *home = cbox_host_get_home_dir (host);
  const char *shell = cbox_host_get_shell (host);
  g_autoptr (GString) passwd = g_string_new (NULL);
  g_autoptr (GString) group = g_string_new (NULL);

  if (!cbox_base_field_is_safe (user) || !cbox_base_field_is_safe (home)
      || !cbox_base_field_is_safe (shell))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "The user name, home directory or shell of uid %u contains ':' or a newline; "
                   "cbox cannot write a password entry for it",
                   (unsigned)uid);
      return FALSE;
    }

  /* Only root and the user: the sandbox has no use for the host's other
   * accounts, and listing them would tell it who else uses this machine. */
  if (uid != 0)
    g_string_append (passwd, "root:x:0:0:root:/root:/bin/sh\n");
  g_string_append_printf (passwd, "%s:x:%u:%u::%s:%s\n", user, (unsigned)uid, (unsigned)gid, home,
                          shell);
  g_string_append_printf (passwd, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  if (gid != 0)
    g_string_append (group, "root:x:0:\n");
  g_string_append_printf (group, "%s:x:%u:%s\n", uid == 0 ? "root" : user, (unsigned)gid,
                          uid == 0 ? "" : user);
  g_string_append (group, "nogroup:x:65534:\n");

  if (!cbox_base_add_etc_data (plan, host, etc_bound, "passwd", passwd->str, passwd->len, error)
      || !cbox_base_add_etc_data (plan, host, etc_bound, "group", group->str, group->len, error))
    return FALSE;
  return TRUE;
}

gboolean
cbox_base_plan_fill_system (CboxPlan *plan, const CboxHost *host, const char *usr_dir,
                            GError **error)
{
  const char *home;
  const char *path;
  const char *term;

  g_return_val_if_fail (plan != NULL && host != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  home = cbox_host_get_home_dir (host);
  if (home == NULL || home[0] != '/' || g_str_equal (home, "/"))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "The home directory '%s' cannot be used: cbox puts a private, empty home at "
                   "that path (set HOME to an absolute path other than /)",
                   home != NULL ? home : "");
      return FALSE;
    }

  cbox_plan_set_origin (plan, "core");
  cbox_plan_set_user (plan, cbox_host_get_uid (host), cbox_host_get_gid (host),
                      cbox_host_get_user_name (host), home);

  /* Private scratch space first: later items may sit under these paths (a
   * project in /tmp) and must be applied over them, not hidden by them. */
  cbox_plan_add_tmpfs (plan, "/tmp", 01777);
  cbox_plan_add_tmpfs (plan, "/var/tmp", 01777);
  cbox_plan_add_tmpfs (plan, "/run", 0755);
  cbox_plan_add_dir (plan, "/run/user", 0755);
  cbox_plan_add_dir (plan, cbox_plan_get_runtime_dir (plan), 0700);

  if (!cbox_base_add_system (plan, host, usr_dir, error))
    return FALSE;
  if (!cbox_base_add_identity_files (plan, host, cbox_base_add_etc (plan, host), error))
    return FALSE;

  /* The user's real home path, empty: programs find their dot-directories
   * where they expect them, and nothing of the host home is there unless a
   * forwarder or a --bind puts it there. */
  {
    static const char *const subdirs[]
        = { ".config", ".cache", ".local", ".local/share", ".local/state" };
    g_autofree char *canonical = g_canonicalize_filename (home, "/");

    cbox_plan_add_tmpfs (plan, canonical, 0700);
    for (gsize i = 0; i < G_N_ELEMENTS (subdirs); i++)
      {
        g_autofree char *dir = g_build_filename (canonical, subdirs[i], NULL);
        cbox_plan_add_dir (plan, dir, 0755);
      }
  }

  /* The environment starts empty; only these are set for every sandbox. */
  cbox_plan_set_env (plan, "HOME", home);
  cbox_plan_set_env (plan, "USER", cbox_host_get_user_name (host));
  cbox_plan_set_env (plan, "LOGNAME", cbox_host_get_user_name (host));
  cbox_plan_set_env (plan, "SHELL", cbox_host_get_shell (host));
  path = cbox_host_getenv_nonempty (host, "PATH");
  cbox_plan_set_env (plan, "PATH", path != NULL ? path : "/usr/local/bin:/usr/bin:/bin");
  term = cbox_host_getenv_nonempty (host, "TERM");
  if (term != NULL)
    cbox_plan_set_env (plan, "TERM", term);
  cbox_plan_set_env (plan, "XDG_RUNTIME_DIR", cbox_plan_get_runtime_dir (plan));
  return TRUE;
}

/* The sandbox's /etc/machine-id: its own, stable for the project (a
 * program that keys its state by machine, like D-Bus or a browser profile,
 * sees the same machine on each run of the project), and never the
 * host's, which would tie the sandbox's reports to this host. Derived as
 * systemd's sd_id128_get_machine_app_specific() does: an HMAC-SHA256 keyed
 * with the host's id, so it cannot be turned back into the host's id, and
 * two projects (or two users) get unrelated ids. */
static gboolean
cbox_base_add_machine_id (CboxPlan *plan, const CboxHost *host, const char *project, GError **error)
{
  const CboxMount *etc = cbox_plan_find_mount (plan, "/etc");
  g_autoptr (GBytes) host_id = cbox_host_read_file (host, "/etc/machine-id", 4096, NULL);
  g_autoptr (GHmac) hmac = NULL;
  g_autofree char *uid = g_strdup_printf ("%u", (unsigned)cbox_plan_get_uid (plan));
  guint8 digest[32];
  gsize digest_len = sizeof digest;
  char text[34];
  static const char hex[] = "0123456789abcdef";

  if (etc == NULL || etc->kind != CBOX_MOUNT_RO)
    return TRUE;
  if (host_id == NULL)
    {
      cbox_plan_add_note (plan, "the host has no readable /etc/machine-id: the sandbox has none");
      return TRUE;
    }
  hmac = g_hmac_new (G_CHECKSUM_SHA256, g_bytes_get_data (host_id, NULL),
                     g_bytes_get_size (host_id));
  g_hmac_update (hmac, (const guchar *)"cbox project machine-id", -1);
  g_hmac_update (hmac, (const guchar *)"", 1);
  g_hmac_update (hmac, (const guchar *)uid, strlen (uid) + 1);
  g_hmac_update (hmac, (const guchar *)project, strlen (project));
  g_hmac_get_digest (hmac, digest, &digest_len);
  /* A version 4 UUID, as systemd makes them. */
  digest[6] = (digest[6] & 0x0f) | 0x40;
  digest[8] = (digest[8] & 0x3f) | 0x80;
  for (gsize i = 0; i < 16; i++)
    {
      text[2 * i] = hex[digest[i] >> 4];
      text[2 * i + 1] = hex[digest[i] & 0x0f];
    }
  text[32] = '\n';
  text[33] = '\0';
  return cbox_plan_add_data (plan, "/etc/machine-id", text, 33, 0444, CBOX_MOUNT_FLAG_NONE, error);
}

gboolean
cbox_base_plan_add_project (CboxPlan *plan, const CboxHost *host, const char *project_dir,
                            GError **error)
{
  g_autofree char *absolute = NULL;
  g_autofree char *real = NULL;

  g_return_val_if_fail (plan != NULL && host != NULL && project_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  absolute = g_canonicalize_filename (project_dir, NULL);
  real = realpath (absolute, NULL);
  if (real == NULL)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "Project directory %s: %s (give an existing directory with --project)", absolute,
                   g_strerror (saved_errno));
      return FALSE;
    }
  if (!g_file_test (real, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR,
                   "Project directory %s is not a directory (give a directory with --project)",
                   real);
      return FALSE;
    }
  if (g_str_equal (real, "/"))
    {
      /* Binding / read-write would hand the whole host to the sandbox. */
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "The project directory cannot be / (give a project folder with --project)");
      return FALSE;
    }

  cbox_plan_set_origin (plan, "core");
  if (!cbox_base_add_machine_id (plan, host, real, error))
    return FALSE;
  cbox_plan_add_bind_rw (plan, real, real, CBOX_MOUNT_FLAG_NONE);
  cbox_plan_set_cwd (plan, real);
  return TRUE;
}
