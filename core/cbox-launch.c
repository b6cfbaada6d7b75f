/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "cbox-private.h"

struct _CboxLaunch
{
  GPtrArray *argv; /* NULL-terminated */
  GArray *fds;     /* int, owned */
  char **environ;
  /* Namespaces the tool starts in (not owned), -1 for none. */
  int join_userns_fd;
  int join_netns_fd;
};

CboxLaunch *
cbox_launch_new (void)
{
  CboxLaunch *launch = g_new0 (CboxLaunch, 1);

  launch->argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (launch->argv, NULL);
  launch->fds = g_array_new (FALSE, FALSE, sizeof (int));
  launch->environ = g_new0 (char *, 1);
  launch->join_userns_fd = launch->join_netns_fd = -1;
  return launch;
}

void
cbox_launch_free (CboxLaunch *launch)
{
  if (launch == NULL)
    return;
  g_ptr_array_unref (launch->argv);
  for (guint i = 0; i < launch->fds->len; i++)
    close (g_array_index (launch->fds, int, i));
  g_array_unref (launch->fds);
  g_strfreev (launch->environ);
  g_free (launch);
}

void
cbox_launch_take_arg (CboxLaunch *launch, char *arg)
{
  g_return_if_fail (launch != NULL && arg != NULL);
  /* Keep the array NULL-terminated for cbox_launch_get_argv(). */
  g_ptr_array_insert (launch->argv, (int)launch->argv->len - 1, arg);
}

void
cbox_launch_add_arg (CboxLaunch *launch, const char *arg)
{
  g_return_if_fail (arg != NULL);
  cbox_launch_take_arg (launch, g_strdup (arg));
}

void
cbox_launch_add_args (CboxLaunch *launch, const char *first, ...)
{
  va_list args;

  va_start (args, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (args, const char *))
    cbox_launch_add_arg (launch, arg);
  va_end (args);
}

void
cbox_launch_add_argf (CboxLaunch *launch, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  cbox_launch_take_arg (launch, g_strdup_vprintf (format, args));
  va_end (args);
}

const char *const *
cbox_launch_get_argv (CboxLaunch *launch)
{
  g_return_val_if_fail (launch != NULL, NULL);
  return (const char *const *)launch->argv->pdata;
}

void
cbox_launch_take_argv (CboxLaunch *launch, char **argv)
{
  g_return_if_fail (launch != NULL && argv != NULL);
  g_ptr_array_set_size (launch->argv, 0);
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (launch->argv, argv[i]);
  g_ptr_array_add (launch->argv, NULL);
  g_free (argv);
}

int
cbox_launch_take_fd (CboxLaunch *launch, int fd)
{
  g_return_val_if_fail (launch != NULL, -1);
  g_return_val_if_fail (fd >= 0, -1);
  g_array_append_val (launch->fds, fd);
  return fd;
}

/* The fds the launched tool inherits; for the run code. */
const int *
cbox_launch_get_fds (CboxLaunch *launch, guint *ret_n_fds)
{
  g_return_val_if_fail (launch != NULL && ret_n_fds != NULL, NULL);
  *ret_n_fds = launch->fds->len;
  return (const int *)(gpointer)launch->fds->data;
}

void
cbox_launch_set_environ (CboxLaunch *launch, const char *const *envp)
{
  g_return_if_fail (launch != NULL);
  g_strfreev (launch->environ);
  launch->environ = envp != NULL ? g_strdupv ((char **)envp) : g_new0 (char *, 1);
}

const char *const *
cbox_launch_get_environ (CboxLaunch *launch)
{
  g_return_val_if_fail (launch != NULL, NULL);
  return (const char *const *)launch->environ;
}

char *
cbox_launch_to_shell_string (CboxLaunch *launch)
{
  g_autoptr (GString) out = g_string_new (NULL);

  g_return_val_if_fail (launch != NULL, NULL);
  for (guint i = 0; i + 1 < launch->argv->len; i++)
    {
      const char *arg = g_ptr_array_index (launch->argv, i);
      g_autofree char *quoted = g_shell_quote (arg);

      if (i > 0)
        g_string_append_c (out, ' ');
      /* Plain words stay plain, so the line reads like one a person typed. */
      if (arg[0] != '\0'
          && strspn (arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "0123456789-_./=:,+@%")
                 == strlen (arg))
        g_string_append (out, arg);
      else
        g_string_append (out, quoted);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

void
cbox_launch_set_namespaces (CboxLaunch *launch, int userns_fd, int netns_fd)
{
  g_return_if_fail (launch != NULL);
  launch->join_userns_fd = userns_fd;
  launch->join_netns_fd = netns_fd;
}

void
cbox_launch_get_namespaces (CboxLaunch *launch, int *ret_userns_fd, int *ret_netns_fd)
{
  g_return_if_fail (launch != NULL);
  *ret_userns_fd = launch->join_userns_fd;
  *ret_netns_fd = launch->join_netns_fd;
}
