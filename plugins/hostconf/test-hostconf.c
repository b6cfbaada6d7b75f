/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the hostconf forwarder against a fake root. */
#include "config.h"

#include "cbox-hostconf-plugin.c"

#include "cbox-private.h"
#include "cbox-test-util.h"

typedef struct
{
  char *root;
  CboxHost *host;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->root = cbox_test_make_dir ("root");
  f->host = cbox_host_new ();
  cbox_host_set_root (f->host, f->root);
  cbox_host_set_user (f->host, 1000, 1000, "u", "/home/u", "/bin/sh");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_free (f->root);
  cbox_host_unref (f->host);
}

/* A symlink at @path (under the root) to @target (under the root too, as
 * a host would have it). */
static void
make_link (Fixture *f, const char *target, const char *path)
{
  g_autofree char *full = g_build_filename (f->root, path, NULL);
  g_autofree char *full_target = g_build_filename (f->root, target, NULL);
  g_autofree char *dir = g_path_get_dirname (full);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_cmpint (symlink (full_target, full), ==, 0);
}

static CboxPlan *
run (Fixture *f, CboxNetworkMode network, const char *backend, CboxFeatures features)
{
  g_autoptr (CboxContext) ctx = cbox_context_new (f->host, NULL, "hostconf");
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;

  cbox_context_set_network (ctx, network);
  cbox_context_set_backend (ctx, backend, features);
  cbox_plan_set_user (plan, 1000, 1000, "u", "/home/u");
  g_assert_true (hostconf_probe (ctx, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cbox_probe_result_get_status (result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_true (hostconf_contribute (ctx, plan, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&plan);
}

static char *
real_path_of (Fixture *f, const char *path)
{
  g_autofree char *full = g_build_filename (f->root, path, NULL);
  return hostconf_realpath (full);
}

static void
test_resolv_conf_symlink (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *stub = NULL;
  const CboxMount *mount;

  cbox_test_write_file (f->root, "run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n");
  make_link (f, "run/systemd/resolve/stub-resolv.conf", "etc/resolv.conf");
  cbox_test_write_file (f->root, "etc/hosts", "127.0.0.1 localhost\n");
  stub = real_path_of (f, "run/systemd/resolve/stub-resolv.conf");

  /* --network=host: the stub is reachable, keep it. */
  plan = run (f, CBOX_NETWORK_HOST, "bwrap", CBOX_FEATURE_ALL);
  mount = cbox_plan_find_mount (plan, "/etc/resolv.conf");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, stub);
  g_assert_cmpint (cbox_plan_find_mount (plan, "/etc/hosts")->kind, ==, CBOX_MOUNT_RO);
  g_assert_nonnull (cbox_plan_find_mount (plan, "/etc/nsswitch.conf"));
  g_clear_pointer (&plan, cbox_plan_free);

  /* The default network, a namespace of the sandbox's own: the stub is
   * out of reach and there is no upstream list, so DNS goes to the
   * network helper's forwarder. */
  plan = run (f, CBOX_NETWORK_OWN, "bwrap", CBOX_FEATURE_ALL);
  mount = cbox_plan_find_mount (plan, "/etc/resolv.conf");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);
  {
    g_autoptr (GBytes) content = cbox_memfd_read (mount->fd, NULL);
    g_autofree char *text
        = g_strndup (g_bytes_get_data (content, NULL), g_bytes_get_size (content));
    g_assert_nonnull (strstr (text, "\nnameserver 10.0.2.3\n"));
  }
}

static void
test_resolv_conf_upstream (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *upstream = NULL;

  cbox_test_write_file (f->root, "run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n");
  cbox_test_write_file (f->root, "run/systemd/resolve/resolv.conf", "nameserver 192.0.2.1\n");
  make_link (f, "run/systemd/resolve/stub-resolv.conf", "etc/resolv.conf");
  upstream = g_build_filename (f->root, HOSTCONF_RESOLVED_UPSTREAM, NULL);

  /* A backend with its own network stack cannot reach 127.0.0.53. */
  plan = run (f, TRUE, "qemu", CBOX_FEATURE_BIND | CBOX_FEATURE_DATA);
  g_assert_cmpstr (cbox_plan_find_mount (plan, "/etc/resolv.conf")->src, ==, upstream);
}

static void
test_network_off (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  const CboxMount *mount;

  cbox_test_write_file (f->root, "etc/resolv.conf", "nameserver 192.0.2.1\n");
  cbox_test_write_file (f->root, "etc/hosts", "10.0.0.7 build-server.internal\n");
  cbox_test_write_file (f->root, "etc/nsswitch.conf", "hosts: files dns\n");
  cbox_test_write_file (f->root, "etc/ssl/certs/ca.pem", "");

  plan = run (f, FALSE, "bwrap", CBOX_FEATURE_ALL);
  g_assert_null (cbox_plan_find_mount (plan, "/etc/resolv.conf"));
  g_assert_null (cbox_plan_find_mount (plan, "/etc/nsswitch.conf"));
  /* The host's hosts file is replaced by a loopback-only one. */
  mount = cbox_plan_find_mount (plan, "/etc/hosts");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);
  g_assert_nonnull (cbox_plan_find_mount (plan, "/etc/ssl"));
}

static void
test_tls_fonts (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *private_dir = g_build_filename (f->root, "etc/ssl/private", NULL);
  const CboxMount *mount;

  cbox_test_write_file (f->root, "etc/ssl/certs/ca-certificates.crt", "");
  g_assert_cmpint (g_mkdir_with_parents (private_dir, 0700), ==, 0);
  plan = run (f, TRUE, "bwrap", CBOX_FEATURE_ALL);
  for (gsize i = 0; i < G_N_ELEMENTS (hostconf_dirs); i++)
    {
      mount = cbox_plan_find_mount (plan, hostconf_dirs[i]);
      g_assert_nonnull (mount);
      g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
      g_assert_true (mount->flags & CBOX_MOUNT_FLAG_ALLOW_MISSING);
    }
  mount = cbox_plan_find_mount (plan, "/etc/ssl/private");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_TMPFS);
}

static void
test_localtime_in_usr (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  const CboxMount *mount;

  cbox_test_write_file (f->root, "usr/share/zoneinfo/Europe/Berlin", "TZif");
  make_link (f, "usr/share/zoneinfo/Europe/Berlin", "etc/localtime");
  cbox_host_setenv (f->host, "TZ", "Asia/Tokyo");
  plan = run (f, TRUE, "bwrap", CBOX_FEATURE_ALL);
  mount = cbox_plan_find_mount (plan, "/etc/localtime");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SYMLINK);
  g_assert_cmpstr (mount->src, ==, "/usr/share/zoneinfo/Europe/Berlin");
  g_assert_null (cbox_plan_find_mount (plan, "/usr/share/zoneinfo"));
  g_assert_cmpstr (cbox_plan_get_env (plan, "TZ"), ==, "Asia/Tokyo");
}

static void
test_localtime_outside_usr (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *zoneinfo = NULL;
  const CboxMount *mount;

  cbox_test_write_file (f->root, "etc/tzdata/zoneinfo/Europe/Berlin", "TZif");
  make_link (f, "etc/tzdata/zoneinfo/Europe/Berlin", "etc/localtime");
  zoneinfo = real_path_of (f, "etc/tzdata/zoneinfo");
  plan = run (f, TRUE, "bwrap", CBOX_FEATURE_ALL);
  mount = cbox_plan_find_mount (plan, "/etc/tzdata/zoneinfo");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, zoneinfo);
  mount = cbox_plan_find_mount (plan, "/etc/localtime");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SYMLINK);
  g_assert_cmpstr (mount->src, ==, "/etc/tzdata/zoneinfo/Europe/Berlin");
}

static void
test_localtime_no_symlinks (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  const CboxMount *mount;

  cbox_test_write_file (f->root, "usr/share/zoneinfo/UTC", "TZif");
  make_link (f, "usr/share/zoneinfo/UTC", "etc/localtime");
  plan = run (f, TRUE, "qemu", CBOX_FEATURE_BIND);
  mount = cbox_plan_find_mount (plan, "/etc/localtime");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
}

static void
test_loopback_detection (void)
{
  g_autofree char *dir = cbox_test_make_dir ("resolv");
  g_autofree char *path = g_build_filename (dir, "resolv.conf", NULL);
  g_autofree char *fifo = g_build_filename (dir, "fifo.conf", NULL);
  g_autofree char *subdir = g_build_filename (dir, "dir.conf", NULL);
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (GString) large = g_string_new ("nameserver 127.0.0.53\n");

  /* Host paths, under the root prefix. */
  cbox_host_set_root (host, dir);
  g_assert_true (
      g_file_set_contents (path, "# x\nnameserver 127.0.0.53\noptions edns0\n", -1, NULL));
  g_assert_true (hostconf_resolv_is_loopback_only (host, "/resolv.conf"));
  g_assert_true (g_file_set_contents (path, "nameserver ::1\nnameserver 127.0.0.1\n", -1, NULL));
  g_assert_true (hostconf_resolv_is_loopback_only (host, "/resolv.conf"));
  g_assert_true (
      g_file_set_contents (path, "nameserver 127.0.0.53\nnameserver 9.9.9.9\n", -1, NULL));
  g_assert_false (hostconf_resolv_is_loopback_only (host, "/resolv.conf"));
  g_assert_true (g_file_set_contents (path, "search example.org\n", -1, NULL));
  g_assert_false (hostconf_resolv_is_loopback_only (host, "/resolv.conf"));

  /* What cannot be read counts as not loopback-only, at once: a fifo
   * nobody writes to (g_file_get_contents() would wait on it for good), a
   * directory, a missing file, a file over the size limit. */
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_false (hostconf_resolv_is_loopback_only (host, "/fifo.conf"));
  g_assert_cmpint (g_mkdir (subdir, 0755), ==, 0);
  g_assert_false (hostconf_resolv_is_loopback_only (host, "/dir.conf"));
  g_assert_false (hostconf_resolv_is_loopback_only (host, "/missing.conf"));
  while (large->len <= HOSTCONF_RESOLV_MAX_SIZE)
    g_string_append (large, "# padding padding padding padding padding padding padding\n");
  g_assert_true (g_file_set_contents (path, large->str, (gssize)large->len, NULL));
  g_assert_false (hostconf_resolv_is_loopback_only (host, "/resolv.conf"));
}

static gboolean
plan_has_note (CboxPlan *plan, const char *needle)
{
  for (guint i = 0; i < cbox_plan_get_n_notes (plan); i++)
    if (strstr (cbox_plan_get_note (plan, i, NULL), needle) != NULL)
      return TRUE;
  return FALSE;
}

/* /etc/resolv.conf that is a fifo nobody writes to, or a symlink to a
 * directory: not bound (a resolver inside would block on the fifo), with a
 * note that says why, and the probe and contribute return at once. */
static void
test_resolv_conf_not_regular (Fixture *f, gconstpointer data)
{
  g_autofree char *resolv = g_build_filename (f->root, "etc/resolv.conf", NULL);
  g_autofree char *stub = g_build_filename (f->root, "run/systemd/resolve/stub-resolv.conf", NULL);

  cbox_test_write_file (f->root, "etc/hosts", "127.0.0.1 localhost\n");
  g_assert_cmpint (mkfifo (resolv, 0644), ==, 0);
  {
    /* With and without the host's network. */
    g_autoptr (CboxPlan) plan = run (f, TRUE, "qemu", CBOX_FEATURE_BIND | CBOX_FEATURE_DATA);
    g_autoptr (CboxPlan) plan_bwrap = run (f, TRUE, "bwrap", CBOX_FEATURE_ALL);

    g_assert_null (cbox_plan_find_mount (plan, "/etc/resolv.conf"));
    g_assert_true (
        plan_has_note (plan, "/etc/resolv.conf on the host is not a regular file: not forwarded"));
    g_assert_null (cbox_plan_find_mount (plan_bwrap, "/etc/resolv.conf"));
    g_assert_true (plan_has_note (plan_bwrap, "/etc/resolv.conf on the host is not a regular"));
    /* The rest of the name service is still there. */
    g_assert_nonnull (cbox_plan_find_mount (plan, "/etc/hosts"));
  }

  g_assert_cmpint (g_unlink (resolv), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (stub, 0755), ==, 0);
  make_link (f, "run/systemd/resolve/stub-resolv.conf", "etc/resolv.conf");
  {
    g_autoptr (CboxPlan) plan = run (f, TRUE, "qemu", CBOX_FEATURE_BIND | CBOX_FEATURE_DATA);

    g_assert_null (cbox_plan_find_mount (plan, "/etc/resolv.conf"));
    g_assert_true (plan_has_note (plan, "/etc/resolv.conf on the host leads to "
                                        "/run/systemd/resolve/stub-resolv.conf, which is not a "
                                        "regular file"));
  }
}

/* systemd-resolved's upstream list is a fifo: passed over; with the
 * network on (a user-mode network of its own) DNS goes to its forwarder,
 * otherwise the stub is bound with the loopback note. */
static void
test_resolv_conf_upstream_fifo (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *upstream = g_build_filename (f->root, HOSTCONF_RESOLVED_UPSTREAM, NULL);
  g_autofree char *stub = NULL;

  cbox_test_write_file (f->root, "run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n");
  make_link (f, "run/systemd/resolve/stub-resolv.conf", "etc/resolv.conf");
  g_assert_cmpint (mkfifo (upstream, 0644), ==, 0);
  stub = real_path_of (f, "run/systemd/resolve/stub-resolv.conf");

  plan = run (f, CBOX_NETWORK_OWN, "qemu", CBOX_FEATURE_BIND | CBOX_FEATURE_DATA);
  g_assert_cmpint (cbox_plan_find_mount (plan, "/etc/resolv.conf")->kind, ==, CBOX_MOUNT_DATA);
  g_assert_true (plan_has_note (plan, "DNS through the network helper at 10.0.2.3"));
  g_clear_pointer (&plan, cbox_plan_free);

  plan = run (f, CBOX_NETWORK_HOST, "qemu", CBOX_FEATURE_BIND | CBOX_FEATURE_DATA);
  g_assert_cmpstr (cbox_plan_find_mount (plan, "/etc/resolv.conf")->src, ==, stub);
  g_assert_true (plan_has_note (plan, "names only loopback servers"));
}

/* A resolv.conf over the size limit is not read: like an unreadable one it
 * counts as not loopback-only and is bound as it is. */
static void
test_resolv_conf_too_large (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autoptr (GString) large = g_string_new ("nameserver 127.0.0.53\n");
  g_autofree char *stub = NULL;

  while (large->len <= HOSTCONF_RESOLV_MAX_SIZE)
    g_string_append (large, "# padding padding padding padding padding padding padding\n");
  cbox_test_write_file (f->root, "run/systemd/resolve/stub-resolv.conf", large->str);
  cbox_test_write_file (f->root, "run/systemd/resolve/resolv.conf", "nameserver 192.0.2.1\n");
  make_link (f, "run/systemd/resolve/stub-resolv.conf", "etc/resolv.conf");
  stub = real_path_of (f, "run/systemd/resolve/stub-resolv.conf");

  plan = run (f, TRUE, "qemu", CBOX_FEATURE_BIND | CBOX_FEATURE_DATA);
  g_assert_cmpstr (cbox_plan_find_mount (plan, "/etc/resolv.conf")->src, ==, stub);
  g_assert_false (plan_has_note (plan, "loopback"));
}

/* As run(), over a plan that has the host's /etc read-only already, as the
 * base plan gives it (core/cbox-base.c). */
static CboxPlan *
run_etc_bound (Fixture *f, CboxNetworkMode network, const char *backend, CboxFeatures features)
{
  g_autoptr (CboxContext) ctx = cbox_context_new (f->host, NULL, "hostconf");
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *etc = g_build_filename (f->root, "etc", NULL);

  cbox_context_set_network (ctx, network);
  cbox_context_set_backend (ctx, backend, features);
  cbox_plan_set_user (plan, 1000, 1000, "u", "/home/u");
  g_assert_cmpint (g_mkdir_with_parents (etc, 0755), ==, 0);
  cbox_plan_add_bind_ro (plan, etc, "/etc", CBOX_MOUNT_FLAG_NONE);
  g_assert_true (hostconf_probe (ctx, result, &error));
  g_assert_true (hostconf_contribute (ctx, plan, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&plan);
}

/* Nothing under /etc is bound again: it is all there. The only items are
 * those that change what the sandbox sees. */
static void
assert_no_etc_binds (CboxPlan *plan)
{
  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    {
      const CboxMount *mount = cbox_plan_get_mount (plan, i);
      if (g_str_has_prefix (mount->dest, "/etc/") && mount->kind == CBOX_MOUNT_RO)
        g_assert_cmpstr (mount->src, ==, "/dev/null");
    }
}

/* resolv.conf a link into /run (private inside): its target is bound
 * where the link leads, so the host's link works inside. */
static void
test_etc_bound_resolv_symlink (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autoptr (CboxPlan) qemu_plan = NULL;
  g_autofree char *stub = NULL;
  g_autofree char *upstream = NULL;
  const CboxMount *mount;

  cbox_test_write_file (f->root, "run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n");
  cbox_test_write_file (f->root, "run/systemd/resolve/resolv.conf", "nameserver 192.0.2.1\n");
  make_link (f, "run/systemd/resolve/stub-resolv.conf", "etc/resolv.conf");
  cbox_test_write_file (f->root, "etc/hosts", "10.0.0.7 build\n");
  cbox_test_write_file (f->root, "etc/ssl/certs/ca.pem", "");
  stub = real_path_of (f, "run/systemd/resolve/stub-resolv.conf");
  upstream = real_path_of (f, "run/systemd/resolve/resolv.conf");

  /* --network=host: the stub is reachable, at the place the link leads. */
  plan = run_etc_bound (f, CBOX_NETWORK_HOST, "bwrap", CBOX_FEATURE_ALL);
  g_assert_null (cbox_plan_find_mount (plan, "/etc/resolv.conf"));
  mount = cbox_plan_find_mount (plan, "/run/systemd/resolve/stub-resolv.conf");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, stub);
  g_assert_null (cbox_plan_find_mount (plan, "/etc/hosts"));
  g_assert_null (cbox_plan_find_mount (plan, "/etc/ssl"));
  assert_no_etc_binds (plan);

  /* The stub is out of qemu's reach, and of bwrap's own network: the
   * upstream list at the same place. */
  qemu_plan = run_etc_bound (f, CBOX_NETWORK_OWN, "qemu", CBOX_FEATURE_BIND | CBOX_FEATURE_DATA);
  mount = cbox_plan_find_mount (qemu_plan, "/run/systemd/resolve/stub-resolv.conf");
  g_assert_nonnull (mount);
  g_assert_cmpstr (mount->src, ==, upstream);
  g_clear_pointer (&plan, cbox_plan_free);
  plan = run_etc_bound (f, CBOX_NETWORK_OWN, "bwrap", CBOX_FEATURE_ALL);
  mount = cbox_plan_find_mount (plan, "/run/systemd/resolve/stub-resolv.conf");
  g_assert_nonnull (mount);
  g_assert_cmpstr (mount->src, ==, upstream);
}

/* A regular resolv.conf is seen through /etc as it is; on the loopback
 * only and for a backend without the host's network, the upstream list
 * goes over it. */
static void
test_etc_bound_resolv_regular (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autoptr (CboxPlan) qemu_plan = NULL;
  g_autofree char *upstream = NULL;

  cbox_test_write_file (f->root, "etc/resolv.conf", "nameserver 127.0.0.53\n");
  cbox_test_write_file (f->root, "run/systemd/resolve/resolv.conf", "nameserver 192.0.2.1\n");
  upstream = real_path_of (f, "run/systemd/resolve/resolv.conf");

  plan = run_etc_bound (f, CBOX_NETWORK_HOST, "bwrap", CBOX_FEATURE_ALL);
  g_assert_null (cbox_plan_find_mount (plan, "/etc/resolv.conf"));
  qemu_plan = run_etc_bound (f, CBOX_NETWORK_OWN, "qemu", CBOX_FEATURE_BIND | CBOX_FEATURE_DATA);
  g_assert_cmpstr (cbox_plan_find_mount (qemu_plan, "/etc/resolv.conf")->src, ==, upstream);
  g_clear_pointer (&plan, cbox_plan_free);
  /* bwrap's own network does not reach the stub either. */
  plan = run_etc_bound (f, CBOX_NETWORK_OWN, "bwrap", CBOX_FEATURE_ALL);
  g_assert_cmpstr (cbox_plan_find_mount (plan, "/etc/resolv.conf")->src, ==, upstream);
}

/* Network off: the host's resolv.conf is hidden (a link into /run dangles
 * inside already), /etc/hosts has the loopback only. */
static void
test_etc_bound_network_off (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autoptr (CboxPlan) link_plan = NULL;
  g_autofree char *hosts = NULL;
  const CboxMount *mount;

  cbox_test_write_file (f->root, "etc/resolv.conf", "nameserver 192.0.2.1\n");
  cbox_test_write_file (f->root, "etc/hosts", "10.0.0.7 build-server.internal\n");
  plan = run_etc_bound (f, CBOX_NETWORK_OFF, "bwrap", CBOX_FEATURE_ALL);
  mount = cbox_plan_find_mount (plan, "/etc/resolv.conf");
  g_assert_nonnull (mount);
  g_assert_cmpstr (mount->src, ==, "/dev/null");
  mount = cbox_plan_find_mount (plan, "/etc/hosts");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);
  {
    g_autoptr (GBytes) bytes = cbox_memfd_read (mount->fd, NULL);
    g_assert_nonnull (bytes);
    hosts = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  }
  g_assert_null (strstr (hosts, "build-server"));
  g_assert_nonnull (strstr (hosts, "localhost"));

  g_assert_cmpint (g_unlink (g_build_filename (f->root, "etc/resolv.conf", NULL)), ==, 0);
  cbox_test_write_file (f->root, "run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n");
  make_link (f, "run/systemd/resolve/stub-resolv.conf", "etc/resolv.conf");
  link_plan = run_etc_bound (f, CBOX_NETWORK_OFF, "bwrap", CBOX_FEATURE_ALL);
  g_assert_null (cbox_plan_find_mount (link_plan, "/etc/resolv.conf"));
  g_assert_null (cbox_plan_find_mount (link_plan, "/run/systemd/resolve/stub-resolv.conf"));
}

/* /etc/localtime is the host's, link or file: nothing over it; a zone
 * database outside /usr and /etc is bound. */
static void
test_etc_bound_localtime (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autoptr (CboxPlan) outside_plan = NULL;
  g_autofree char *zoneinfo = NULL;

  cbox_test_write_file (f->root, "usr/share/zoneinfo/Europe/Berlin", "TZif");
  make_link (f, "usr/share/zoneinfo/Europe/Berlin", "etc/localtime");
  plan = run_etc_bound (f, CBOX_NETWORK_OWN, "bwrap", CBOX_FEATURE_ALL);
  g_assert_null (cbox_plan_find_mount (plan, "/etc/localtime"));
  g_assert_null (cbox_plan_find_mount (plan, "/usr/share/zoneinfo"));

  g_assert_cmpint (g_unlink (g_build_filename (f->root, "etc/localtime", NULL)), ==, 0);
  cbox_test_write_file (f->root, "opt/tz/zoneinfo/Europe/Berlin", "TZif");
  make_link (f, "opt/tz/zoneinfo/Europe/Berlin", "etc/localtime");
  zoneinfo = real_path_of (f, "opt/tz/zoneinfo");
  outside_plan = run_etc_bound (f, CBOX_NETWORK_OWN, "bwrap", CBOX_FEATURE_ALL);
  g_assert_null (cbox_plan_find_mount (outside_plan, "/etc/localtime"));
  g_assert_cmpstr (cbox_plan_find_mount (outside_plan, "/opt/tz/zoneinfo")->src, ==, zoneinfo);
}

/* The proxy variables pass, both spellings, with the network on only;
 * nothing else of the environment. */
static void
test_proxy_variables (Fixture *f, gconstpointer data)
{
  const char *env[] = { "HTTPS_PROXY=http://proxy.example:3128",
                        "http_proxy=http://proxy.example:3128",
                        "NO_PROXY=localhost,.internal",
                        "ALL_PROXY=",
                        "SECRET_TOKEN=x",
                        NULL };
  g_autoptr (CboxPlan) plan = NULL;
  g_autoptr (CboxPlan) offline = NULL;

  cbox_host_set_environ (f->host, env);
  plan = run (f, TRUE, "bwrap", CBOX_FEATURE_ALL);
  g_assert_cmpstr (cbox_plan_get_env (plan, "HTTPS_PROXY"), ==, "http://proxy.example:3128");
  g_assert_cmpstr (cbox_plan_get_env (plan, "http_proxy"), ==, "http://proxy.example:3128");
  g_assert_cmpstr (cbox_plan_get_env (plan, "NO_PROXY"), ==, "localhost,.internal");
  g_assert_null (cbox_plan_get_env (plan, "ALL_PROXY"));
  g_assert_null (cbox_plan_get_env (plan, "HTTP_PROXY"));
  g_assert_null (cbox_plan_get_env (plan, "SECRET_TOKEN"));
  offline = run (f, FALSE, "bwrap", CBOX_FEATURE_ALL);
  g_assert_null (cbox_plan_get_env (offline, "HTTPS_PROXY"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/hostconf/resolv/loopback-detection", test_loopback_detection);
  g_test_add ("/hostconf/proxy-variables", Fixture, NULL, fixture_setup, test_proxy_variables,
              fixture_teardown);
  g_test_add ("/hostconf/etc-bound/resolv-symlink", Fixture, NULL, fixture_setup,
              test_etc_bound_resolv_symlink, fixture_teardown);
  g_test_add ("/hostconf/etc-bound/resolv-regular", Fixture, NULL, fixture_setup,
              test_etc_bound_resolv_regular, fixture_teardown);
  g_test_add ("/hostconf/etc-bound/network-off", Fixture, NULL, fixture_setup,
              test_etc_bound_network_off, fixture_teardown);
  g_test_add ("/hostconf/etc-bound/localtime", Fixture, NULL, fixture_setup,
              test_etc_bound_localtime, fixture_teardown);
  g_test_add ("/hostconf/resolv/symlink", Fixture, NULL, fixture_setup, test_resolv_conf_symlink,
              fixture_teardown);
  g_test_add ("/hostconf/resolv/upstream", Fixture, NULL, fixture_setup, test_resolv_conf_upstream,
              fixture_teardown);
  g_test_add ("/hostconf/resolv/not-regular", Fixture, NULL, fixture_setup,
              test_resolv_conf_not_regular, fixture_teardown);
  g_test_add ("/hostconf/resolv/upstream-fifo", Fixture, NULL, fixture_setup,
              test_resolv_conf_upstream_fifo, fixture_teardown);
  g_test_add ("/hostconf/resolv/too-large", Fixture, NULL, fixture_setup,
              test_resolv_conf_too_large, fixture_teardown);
  g_test_add ("/hostconf/network-off", Fixture, NULL, fixture_setup, test_network_off,
              fixture_teardown);
  g_test_add ("/hostconf/tls-fonts", Fixture, NULL, fixture_setup, test_tls_fonts,
              fixture_teardown);
  g_test_add ("/hostconf/localtime/in-usr", Fixture, NULL, fixture_setup, test_localtime_in_usr,
              fixture_teardown);
  g_test_add ("/hostconf/localtime/outside-usr", Fixture, NULL, fixture_setup,
              test_localtime_outside_usr, fixture_teardown);
  g_test_add ("/hostconf/localtime/no-symlinks", Fixture, NULL, fixture_setup,
              test_localtime_no_symlinks, fixture_teardown);
  return g_test_run ();
}
