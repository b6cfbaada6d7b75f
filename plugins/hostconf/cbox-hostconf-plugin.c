/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "hostconf": the host's /etc essentials a program expects:
 * name resolution, TLS roots, fonts, time zone. See README.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>
#include <glib/gstdio.h>

#include <cbox/cbox-plugin.h>

/* Name service files besides resolv.conf. */
static const char *const hostconf_name_files[] = {
  "/etc/hosts",
  "/etc/nsswitch.conf",
  "/etc/host.conf",
  "/etc/gai.conf",
};

/* Trust roots (Debian, Arch: /etc/ssl and /etc/ca-certificates; Fedora,
 * SUSE: /etc/pki) and fonts. */
static const char *const hostconf_dirs[] = {
  "/etc/ssl",
  "/etc/ca-certificates",
  "/etc/pki",
  "/etc/fonts",
};

/* systemd-resolved's list of the real upstream servers, for a sandbox in
 * which the host's 127.0.0.53 stub cannot be reached. */
#define HOSTCONF_RESOLVED_UPSTREAM "/run/systemd/resolve/resolv.conf"

static char *
hostconf_realpath (const char *path)
{
  char *real = realpath (path, NULL);
  char *copy = g_strdup (real);

  free (real);
  return copy;
}

/* @real, a canonical path under the root prefix, as the host itself names
 * it (the prefix stripped again; unchanged on a real host). */
static const char *
hostconf_strip_root (const CboxHost *host, const char *real)
{
  const char *root = cbox_host_get_root (host);
  g_autofree char *real_root = NULL;
  gsize len;

  if (g_str_equal (root, "/"))
    return real;
  real_root = hostconf_realpath (root);
  if (real_root == NULL)
    return real;
  len = strlen (real_root);
  if (strncmp (real, real_root, len) == 0 && real[len] == '/')
    return real + len;
  return real;
}

static gboolean
hostconf_has_feature (CboxContext *ctx, CboxFeatures feature)
{
  if (cbox_context_get_backend (ctx) == NULL)
    return TRUE;
  return (cbox_context_get_backend_features (ctx) & feature) != 0;
}

/* TRUE when the base plan gives the sandbox the host's /etc, read-only
 * (core/cbox-base.c): then everything in it is there already, a generated
 * file can only go over one the host has, and nothing can be created in
 * it. Without it (a test's plan, a host without /etc) the files are bound
 * one by one. */
static gboolean
hostconf_etc_is_bound (CboxPlan *plan)
{
  const CboxMount *etc = cbox_plan_find_mount (plan, "/etc");
  return etc != NULL && etc->kind == CBOX_MOUNT_RO;
}

/* A resolv.conf lists a few servers and options; anything larger is not
 * one. */
#define HOSTCONF_RESOLV_MAX_SIZE (1024 * 1024)

/* TRUE when every nameserver in the host file @path is on the loopback
 * (the usual systemd-resolved, dnsmasq or unbound stub).
 *
 * Read with cbox_host_read_file(), never g_file_get_contents(): the
 * callers look at the file type first, but the file can be swapped for a
 * fifo (which would block cbox forever, nobody writing to it) or a device
 * (read without end) after that look. A file that cannot be read that way
 * (missing, not a regular file, larger than HOSTCONF_RESOLV_MAX_SIZE,
 * permission denied) counts as not loopback-only, as an unreadable file
 * always did: it is bound as it is and the sandbox's resolver meets the
 * same file the host's would. */
static gboolean
hostconf_resolv_is_loopback_only (const CboxHost *host, const char *path)
{
  g_autoptr (GBytes) bytes = cbox_host_read_file (host, path, HOSTCONF_RESOLV_MAX_SIZE, NULL);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  const char *data;
  gsize size;
  gboolean any = FALSE;

  if (bytes == NULL)
    return FALSE;
  data = g_bytes_get_data (bytes, &size);
  contents = size > 0 ? g_strndup (data, size) : g_strdup ("");
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) words = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);
      if (words[0] == NULL || !g_str_equal (words[0], "nameserver") || words[1] == NULL)
        continue;
      any = TRUE;
      if (!g_str_has_prefix (words[1], "127.") && !g_str_equal (words[1], "::1"))
        return FALSE;
    }
  return any;
}

static gboolean
hostconf_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  g_autofree char *resolv = cbox_host_resolve (host, "/etc/resolv.conf");
  g_autofree char *resolv_real = hostconf_realpath (resolv);
  g_autofree char *localtime = cbox_host_resolve (host, "/etc/localtime");
  g_autofree char *localtime_real = hostconf_realpath (localtime);

  cbox_probe_result_add_detail (result, "resolv.conf", "%s",
                                resolv_real != NULL ? hostconf_strip_root (host, resolv_real)
                                                    : "(none)");
  {
    /* One detail for all of them: details are shown as a key/value map. */
    g_autoptr (GString) dirs = g_string_new (NULL);
    for (gsize i = 0; i < G_N_ELEMENTS (hostconf_dirs); i++)
      {
        g_autofree char *path = cbox_host_resolve (host, hostconf_dirs[i]);
        if (g_file_test (path, G_FILE_TEST_IS_DIR))
          g_string_append_printf (dirs, "%s%s", dirs->len > 0 ? " " : "", hostconf_dirs[i]);
      }
    cbox_probe_result_add_detail (result, "dirs", "%s", dirs->len > 0 ? dirs->str : "(none)");
  }
  cbox_probe_result_add_detail (result, "localtime", "%s",
                                localtime_real != NULL ? hostconf_strip_root (host, localtime_real)
                                                       : "(none: UTC)");
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
  return TRUE;
}

/* /etc/resolv.conf, resolved to its real file: a symlink to
 * /run/systemd/resolve/stub-resolv.conf would dangle inside, where /run is
 * private. */
static gboolean hostconf_is_visible (CboxPlan *plan, const char *path);

/* Where the resolver's file goes inside: /etc/resolv.conf itself, or,
 * when the host's /etc is bound and its resolv.conf is a link that leads
 * out of what the sandbox sees (systemd-resolved's
 * /run/systemd/resolve/stub-resolv.conf, NetworkManager's
 * /run/NetworkManager/resolv.conf: /run is private inside), the place the
 * link leads to, so that the link works inside. NULL when nothing needs to
 * be bound: the host's file is visible through /etc as it is. */
static char *
hostconf_resolv_dest (CboxPlan *plan, const CboxHost *host, const char *real)
{
  const char *inside;

  if (!hostconf_etc_is_bound (plan))
    return g_strdup ("/etc/resolv.conf");
  inside = hostconf_strip_root (host, real);
  if (hostconf_is_visible (plan, inside))
    return NULL;
  return g_strdup (inside);
}

static void
hostconf_add_resolv_conf (CboxContext *ctx, CboxPlan *plan, const CboxHost *host)
{
  g_autofree char *resolv = cbox_host_resolve (host, "/etc/resolv.conf");
  g_autofree char *real = hostconf_realpath (resolv);
  g_autofree char *dest = NULL;

  if (real == NULL)
    {
      cbox_plan_add_note (plan, "no /etc/resolv.conf on the host");
      return;
    }
  /* A fifo or a device is not bound: the sandbox's resolver would block
   * on the one and read garbage from the other. */
  if (!g_file_test (real, G_FILE_TEST_IS_REGULAR))
    {
      const char *target = hostconf_strip_root (host, real);
      if (g_str_equal (target, "/etc/resolv.conf"))
        cbox_plan_add_note (plan, "/etc/resolv.conf on the host is not a regular file: not "
                                  "forwarded");
      else
        cbox_plan_add_note (plan,
                            "/etc/resolv.conf on the host leads to %s, which is not a regular "
                            "file: not forwarded",
                            target);
      return;
    }
  /* A stub resolver on the host's loopback is reachable only with the
   * host's network namespace (--network=host, on a backend that can share
   * it). Otherwise use the upstream servers systemd-resolved lists, when
   * it does, or the network helper's DNS forwarder. */
  if ((!hostconf_has_feature (ctx, CBOX_FEATURE_HOST_NET)
       || cbox_context_get_network_mode (ctx) != CBOX_NETWORK_HOST)
      && hostconf_resolv_is_loopback_only (host, "/etc/resolv.conf"))
    {
      g_autofree char *upstream = cbox_host_resolve (host, HOSTCONF_RESOLVED_UPSTREAM);
      if (g_file_test (upstream, G_FILE_TEST_IS_REGULAR)
          && !hostconf_resolv_is_loopback_only (host, HOSTCONF_RESOLVED_UPSTREAM))
        {
          /* Over the host's file, or at the place its link leads to. */
          dest = hostconf_resolv_dest (plan, host, real);
          cbox_plan_add_bind_ro (plan, upstream, dest != NULL ? dest : "/etc/resolv.conf",
                                 CBOX_MOUNT_FLAG_NONE);
          cbox_plan_add_note (plan,
                              "/etc/resolv.conf from %s: the host's stub resolver on "
                              "the loopback is out of reach of backend '%s'",
                              HOSTCONF_RESOLVED_UPSTREAM, cbox_context_get_backend (ctx));
          return;
        }
      if (cbox_context_get_network_mode (ctx) == CBOX_NETWORK_OWN)
        {
          /* The user-mode network (slirp4netns, QEMU's slirp) answers DNS
           * at this address and asks the host's resolver. */
          static const char forwarder[] = "# cbox: the host's resolver, through the sandbox's "
                                          "network helper\nnameserver " CBOX_NET_DNS_ADDRESS "\n";
          g_autoptr (GError) local_error = NULL;

          /* Over the host's file, or at the place its link leads to. */
          dest = hostconf_resolv_dest (plan, host, real);
          if (cbox_plan_add_data (plan, dest != NULL ? dest : "/etc/resolv.conf", forwarder,
                                  sizeof forwarder - 1, 0644, CBOX_MOUNT_FLAG_NONE, &local_error))
            {
              cbox_plan_add_note (plan, "/etc/resolv.conf names only loopback servers: DNS through "
                                        "the network helper at " CBOX_NET_DNS_ADDRESS);
              return;
            }
        }
      cbox_plan_add_note (plan,
                          "/etc/resolv.conf names only loopback servers, which backend "
                          "'%s' may not reach",
                          cbox_context_get_backend (ctx));
    }
  dest = hostconf_resolv_dest (plan, host, real);
  if (dest != NULL)
    cbox_plan_add_bind_ro (plan, real, dest, CBOX_MOUNT_FLAG_NONE);
}

/* TRUE when the sandbox sees @path (canonical, inside) through the system
 * tree of the base plan. */
static gboolean
hostconf_is_visible (CboxPlan *plan, const char *path)
{
  if (g_str_has_prefix (path, "/usr/"))
    return TRUE;
  if (g_str_has_prefix (path, "/etc/"))
    return hostconf_etc_is_bound (plan);
  if (g_str_has_prefix (path, "/nix/store/"))
    return cbox_plan_find_mount (plan, "/nix/store") != NULL;
  return FALSE;
}

/* /etc/localtime and the zone database it comes from, when that is not
 * in /usr (NixOS keeps tzdata in the store, some systems in /etc). */
static void
hostconf_add_time (CboxContext *ctx, CboxPlan *plan, const CboxHost *host)
{
  g_autofree char *localtime = cbox_host_resolve (host, "/etc/localtime");
  g_autofree char *real = hostconf_realpath (localtime);
  const char *tz = cbox_host_getenv_nonempty (host, "TZ");
  const char *tzdir = cbox_host_getenv_nonempty (host, "TZDIR");
  const char *inside;
  const char *zoneinfo;
  GStatBuf st;

  if (tz != NULL)
    cbox_plan_set_env (plan, "TZ", tz);
  if (tzdir != NULL && g_path_is_absolute (tzdir))
    {
      g_autofree char *src = cbox_host_resolve (host, tzdir);
      g_autofree char *src_real = hostconf_realpath (src);
      if (src_real != NULL && !hostconf_is_visible (plan, hostconf_strip_root (host, src_real)))
        cbox_plan_add_bind_ro (plan, src_real, tzdir, CBOX_MOUNT_FLAG_NONE);
      cbox_plan_set_env (plan, "TZDIR", tzdir);
    }

  if (real == NULL || g_lstat (localtime, &st) < 0)
    return;
  if (hostconf_etc_is_bound (plan))
    {
      /* The host's /etc/localtime is there as it is; only the zone
       * database it leads to may be missing. */
      inside = hostconf_strip_root (host, real);
      zoneinfo = strstr (inside, "/zoneinfo/");
      if (!hostconf_is_visible (plan, inside))
        {
          g_autofree char *dir = zoneinfo != NULL
                                     ? g_strndup (inside, zoneinfo - inside + strlen ("/zoneinfo"))
                                     : g_strdup (inside);
          g_autofree char *src = cbox_host_resolve (host, dir);
          if (cbox_plan_find_mount (plan, dir) == NULL)
            cbox_plan_add_bind_ro (plan, src, dir, CBOX_MOUNT_FLAG_NONE);
        }
      return;
    }
  if (!S_ISLNK (st.st_mode) || !hostconf_has_feature (ctx, CBOX_FEATURE_SYMLINK))
    {
      cbox_plan_add_bind_ro (plan, real, "/etc/localtime", CBOX_MOUNT_FLAG_NONE);
      return;
    }

  /* A symlink stays a symlink: programs (and timedatectl) read the zone's
   * name from the link's text ("...zoneinfo/Europe/Berlin"). It points at
   * the canonical path, so no /etc/zoneinfo-style hop is needed inside. */
  inside = hostconf_strip_root (host, real);
  zoneinfo = strstr (inside, "/zoneinfo/");
  if (!hostconf_is_visible (plan, inside))
    {
      if (zoneinfo != NULL)
        {
          /* The whole database, so TZ=Other/Zone works inside too. */
          g_autofree char *dir = g_strndup (inside, zoneinfo - inside + strlen ("/zoneinfo"));
          g_autofree char *src = cbox_host_resolve (host, dir);
          if (cbox_plan_find_mount (plan, dir) == NULL)
            cbox_plan_add_bind_ro (plan, src, dir, CBOX_MOUNT_FLAG_NONE);
        }
      else
        cbox_plan_add_bind_ro (plan, real, inside, CBOX_MOUNT_FLAG_NONE);
    }
  cbox_plan_add_symlink (plan, inside, "/etc/localtime");
}

/* Without network the host's name service has nothing to offer: no
 * resolv.conf (resolvers fail at once instead of timing out) and none of
 * the host's name files (its /etc/hosts may list internal machines). The
 * loopback still works, though, and local servers and test suites expect
 * "localhost" to resolve, so a loopback-only /etc/hosts is generated;
 * glibc's built-in defaults stand in for nsswitch.conf. */
static gboolean
hostconf_add_offline_hosts (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  static const char hosts[] = "127.0.0.1\tlocalhost\n"
                              "::1\tlocalhost ip6-localhost ip6-loopback\n";

  cbox_plan_add_note (plan, "network off: no /etc/resolv.conf, /etc/hosts has the loopback only");
  if (hostconf_etc_is_bound (plan))
    {
      const CboxHost *host = cbox_context_get_host (ctx);
      g_autofree char *resolv = cbox_host_resolve (host, "/etc/resolv.conf");
      g_autofree char *real = hostconf_realpath (resolv);
      g_autofree char *hosts_path = cbox_host_resolve (host, "/etc/hosts");

      /* The host's resolv.conf hidden under an empty, unreadable file
       * (resolvers then fail at once); a link that leads out of the
       * sandbox's view dangles inside already. */
      if (real != NULL && hostconf_is_visible (plan, hostconf_strip_root (host, real)))
        cbox_plan_add_bind_ro (plan, "/dev/null", "/etc/resolv.conf", CBOX_MOUNT_FLAG_NONE);
      /* A generated file can only go over one the host has. */
      if (!g_file_test (hosts_path, G_FILE_TEST_IS_REGULAR))
        {
          cbox_plan_add_note (plan, "the host has no /etc/hosts: the sandbox has none either");
          return TRUE;
        }
    }
  if (!hostconf_has_feature (ctx, CBOX_FEATURE_DATA))
    return TRUE;
  if (!cbox_plan_add_data (plan, "/etc/hosts", hosts, strlen (hosts), 0644, CBOX_MOUNT_FLAG_NONE,
                           error))
    {
      g_prefix_error (error, "hostconf: ");
      return FALSE;
    }
  return TRUE;
}

/* The proxy variables, as curl, Node, Python, git and Go read them (both
 * spellings: curl reads http_proxy in lowercase only, Go both). Behind a
 * corporate proxy nothing reaches the network without them. A proxy URL
 * may hold a user name and password (http://user:pass@proxy:3128): the
 * sandbox then has them, as every program of the user's has; leave
 * hostconf out (--no-forward=hostconf) or unset them for the run where
 * that matters. Only with the network on: without it they are no use. */
static const char *const hostconf_proxy_variables[] = {
  "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
  "http_proxy", "https_proxy", "no_proxy", "all_proxy",
};

static gboolean
hostconf_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  gboolean network = cbox_context_get_network (ctx);

  /* NixOS' /etc entries are symlinks through /etc/static into the store;
   * binding one follows the first link, but files inside a bound directory
   * (/etc/ssl/certs/ca-certificates.crt) still point at /etc/static. */
  gboolean etc_bound = hostconf_etc_is_bound (plan);

  if (cbox_host_is_nixos (host) && !etc_bound && cbox_plan_find_mount (plan, "/etc/static") == NULL)
    {
      g_autofree char *src = cbox_host_resolve (host, "/etc/static");
      cbox_plan_add_bind_ro (plan, src, "/etc/static", CBOX_MOUNT_FLAG_ALLOW_MISSING);
    }

  if (network)
    {
      for (gsize i = 0; i < G_N_ELEMENTS (hostconf_proxy_variables); i++)
        {
          const char *value = cbox_host_getenv_nonempty (host, hostconf_proxy_variables[i]);
          if (value != NULL)
            cbox_plan_set_env (plan, hostconf_proxy_variables[i], value);
        }
      hostconf_add_resolv_conf (ctx, plan, host);
      for (gsize i = 0; i < G_N_ELEMENTS (hostconf_name_files) && !etc_bound; i++)
        {
          g_autofree char *src = cbox_host_resolve (host, hostconf_name_files[i]);
          cbox_plan_add_bind_ro (plan, src, hostconf_name_files[i], CBOX_MOUNT_FLAG_ALLOW_MISSING);
        }
    }
  else if (!hostconf_add_offline_hosts (ctx, plan, error))
    return FALSE;

  if (etc_bound)
    {
      /* TLS roots, fonts, the time zone files are in the host's /etc;
       * /etc/ssl/private is among what the base plan hides. */
      hostconf_add_time (ctx, plan, host);
      return TRUE;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (hostconf_dirs); i++)
    {
      g_autofree char *src = cbox_host_resolve (host, hostconf_dirs[i]);
      cbox_plan_add_bind_ro (plan, src, hostconf_dirs[i], CBOX_MOUNT_FLAG_ALLOW_MISSING);
    }
  /* /etc/ssl/private holds the host's TLS server keys (root-only on the
   * host, but a sandbox run by root could read them): only the public
   * trust roots are needed, so the directory is hidden under an empty
   * tmpfs. */
  {
    g_autofree char *private_dir = cbox_host_resolve (host, "/etc/ssl/private");
    if (g_file_test (private_dir, G_FILE_TEST_IS_DIR))
      {
        if (hostconf_has_feature (ctx, CBOX_FEATURE_TMPFS))
          cbox_plan_add_tmpfs (plan, "/etc/ssl/private", 0700);
        else
          cbox_plan_add_note (plan,
                              "/etc/ssl/private is visible (backend '%s' has no tmpfs "
                              "mounts); its files stay readable to root only",
                              cbox_context_get_backend (ctx));
      }
  }

  hostconf_add_time (ctx, plan, host);
  {
    g_autofree char *timezone = cbox_host_resolve (host, "/etc/timezone");
    cbox_plan_add_bind_ro (plan, timezone, "/etc/timezone", CBOX_MOUNT_FLAG_ALLOW_MISSING);
  }
  return TRUE;
}

static const CboxForwarderVTable hostconf_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = hostconf_probe,
  .contribute = hostconf_contribute,
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "hostconf", .version = "1.0",
                    .description = "DNS and name service, TLS roots, fonts, time zone from /etc",
                    .features = CBOX_FEATURE_BIND, .forwarder = &hostconf_vtable,
                    .default_enabled = TRUE)
