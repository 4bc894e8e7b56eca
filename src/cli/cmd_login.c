/* SPDX-License-Identifier: Apache-2.0 */
/* hoist login / hoist logout: credentials in the Docker config file. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "hoist/registry.h"

#define MAX_PASSWORD ((size_t)64 << 10)

static void login_usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist login [OPTIONS] REGISTRY\n\n"
		"Check a username and password against REGISTRY and store them in the Docker\n"
		"config ($DOCKER_CONFIG/config.json or ~/.docker/config.json, mode 0600),\n"
		"or in its credsStore helper when one is set.\n\n"
		"Options:\n"
		"  -u, --username USER       user name (asked on the terminal when missing)\n"
		"  --password-stdin          read the password from standard input\n"
		"  -p, --password PASS       the password (visible to other users: avoid)\n"
		"%s"
		"  -h, --help                print this help\n",
		cli_registry_options_help());
}

/* Read a line from the terminal, without echo when `secret`. */
static char *prompt(const char *what, bool secret)
{
	_cleanup_close_ int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	struct termios old, t;
	char buf[1024];
	size_t n = 0;

	if (fd < 0)
		return NULL;
	(void)hoist_write_all(fd, what, strlen(what));
	bool restore = secret && tcgetattr(fd, &old) == 0;
	if (restore) {
		t = old;
		t.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &t);
	}
	while (n + 1 < sizeof(buf)) {
		char c;
		ssize_t k = read(fd, &c, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = '\0';
	if (restore) {
		tcsetattr(fd, TCSAFLUSH, &old);
		(void)hoist_write_all(fd, "\n", 1);
	}
	char *r = hoist_xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

static char *read_stdin_password(void)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	char tmp[4096];

	hoist_buf_init(&b, MAX_PASSWORD);
	for (;;) {
		ssize_t n = read(STDIN_FILENO, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (hoist_buf_add(&b, tmp, (size_t)n) < 0) {
			explicit_bzero(b.data, b.len);
			hoist_buf_release(&b);
			return NULL;
		}
	}
	explicit_bzero(tmp, sizeof(tmp));
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = '\0';
	if (!b.data)
		hoist_buf_adds(&b, "");
	return hoist_buf_detach(&b, NULL);
}

int cmd_login(int argc, char **argv)
{
	struct cli_registry reg;
	struct hoist_error err = {0};
	const char *registry = NULL, *user_arg = NULL, *pass_arg = NULL;
	bool pass_stdin = false;
	_cleanup_free_ char *user = NULL;
	_cleanup_free_ char *pass = NULL;
	int r;

	cli_registry_init(&reg);
	reg.progress_mode = "quiet";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			login_usage(stdout);
			cli_registry_release(&reg);
			return HOIST_EXIT_OK;
		}
		r = cli_registry_arg(&reg, "login", argc, argv, &i);
		if (r < 0)
			goto usage_fail;
		if (r > 0)
			continue;
		if ((strcmp(a, "-u") == 0 || strcmp(a, "--username") == 0) && i + 1 < argc) {
			user_arg = argv[++i];
		} else if (hoist_startswith(a, "--username=")) {
			user_arg = a + 11;
		} else if ((strcmp(a, "-p") == 0 || strcmp(a, "--password") == 0) && i + 1 < argc) {
			pass_arg = argv[++i];
		} else if (hoist_startswith(a, "--password=")) {
			pass_arg = a + 11;
		} else if (strcmp(a, "--password-stdin") == 0) {
			pass_stdin = true;
		} else if (a[0] == '-' && a[1]) {
			cli_usage_error("login", "unknown option '%s'", a);
			goto usage_fail;
		} else if (!registry) {
			registry = a;
		} else {
			cli_usage_error("login", "too many arguments");
			goto usage_fail;
		}
	}
	if (!registry) {
		cli_usage_error("login", "missing registry");
		goto usage_fail;
	}
	if (pass_stdin && pass_arg) {
		cli_usage_error("login", "--password and --password-stdin are exclusive");
		goto usage_fail;
	}
	if (pass_stdin && !user_arg) {
		cli_usage_error("login", "--password-stdin needs --username");
		goto usage_fail;
	}

	user = user_arg ? hoist_xstrdup(user_arg) : prompt("Username: ", false);
	if (pass_arg)
		pass = hoist_xstrdup(pass_arg);
	else if (pass_stdin)
		pass = read_stdin_password();
	else
		pass = prompt("Password: ", true);
	if (!user || !*user || !pass) {
		cli_registry_release(&reg);
		if (pass)
			explicit_bzero(pass, strlen(pass));
		return cli_usage_error("login", "no username or password (no terminal to ask on)");
	}
	r = hoist_registry_login(cli_registry_finish(&reg), registry, user, pass, &err);
	explicit_bzero(pass, strlen(pass));
	cli_registry_release(&reg);
	if (r < 0)
		return cli_fail(&err);
	printf("Login Succeeded\n");
	return HOIST_EXIT_OK;

usage_fail:
	cli_registry_release(&reg);
	return HOIST_EXIT_USAGE;
}

int cmd_logout(int argc, char **argv)
{
	struct hoist_registry_opts opts = {0};
	struct hoist_error err = {0};
	const char *registry = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			printf(
			    "Usage: hoist logout REGISTRY\n\n"
			    "Remove the credentials for REGISTRY from the Docker config (or its\n"
			    "credential helper).\n\n"
			    "Options:\n"
			    "  -h, --help   print this help\n");
			return HOIST_EXIT_OK;
		}
		if (a[0] == '-' && a[1])
			return cli_usage_error("logout", "unknown option '%s'", a);
		if (registry)
			return cli_usage_error("logout", "too many arguments");
		registry = a;
	}
	if (!registry)
		return cli_usage_error("logout", "missing registry");
	if (hoist_registry_logout(&opts, registry, &err) < 0)
		return cli_fail(&err);
	printf("Removing login credentials for %s\n", registry);
	return HOIST_EXIT_OK;
}
