/* SPDX-License-Identifier: Apache-2.0 */
/*
 * registries.conf: the TOML-subset reader's refusals (with FILE:LINE), and
 * name resolution as containers-registries.conf(5) describes it: longest
 * prefix, wildcards, rewrites, mirrors in order, pull-from-mirror, blocked,
 * aliases, search registries and drop-in merging.
 */
#include <errno.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "hoist/regconf.h"

static struct hoist_regconf conf;

static int parse(const char *text, const char *file, struct hoist_error *err)
{
	return hoist_regconf_parse(&conf, text, strlen(text), file, err);
}

static void reset(const char *text)
{
	struct hoist_error err = {0};
	hoist_regconf_release(&conf);
	hoist_regconf_init(&conf);
	if (parse(text, "test.conf", &err) < 0) {
		char msg[2048];
		hoist_error_format(&err, msg, sizeof(msg));
		tap_diag("parse failed: %s", msg);
	}
}

/* The plan's sources joined with " | ", or "ERR: message". */
static char *plan(const char *ref)
{
	struct hoist_pull_plan p;
	struct hoist_error err = {0};
	char *s;
	if (hoist_regconf_plan(&conf, ref, &p, &err) < 0) {
		s = hoist_xasprintf("ERR: %s", err.msg);
	} else {
		struct hoist_buf b = HOIST_BUF_INIT;
		for (size_t i = 0; i < p.n; i++)
			hoist_buf_addf(&b, "%s%s%s", i ? " | " : "", p.v[i].ref,
				       p.v[i].insecure ? " (insecure)" : "");
		hoist_buf_adds(&b, "");
		s = hoist_buf_detach(&b, NULL);
	}
	hoist_pull_plan_release(&p);
	return s;
}

static void check_plan(const char *ref, const char *want)
{
	char *got = plan(ref);
	if (!tap_ok(strcmp(got, want) == 0, "%s -> %s", ref, want))
		tap_diag("got: %s", got);
	free(got);
}

/* Parsing `text` fails and the formatted error contains `want`. */
static void check_error(const char *text, const char *want)
{
	struct hoist_error err = {0};
	char msg[2048];
	hoist_regconf_release(&conf);
	hoist_regconf_init(&conf);
	int r = parse(text, "bad.conf", &err);
	hoist_error_format(&err, msg, sizeof(msg));
	if (!tap_ok(r < 0 && strstr(msg, want), "refused: %s", want))
		tap_diag("r=%d msg: %s", r, msg);
}

static void test_rewrites(void)
{
	reset("# an air-gapped host\n"
	      "\n"
	      "[[registry]]\n"
	      "prefix = \"docker.io\"\n"
	      "location = \"internal.example:5000/hub\"\n"
	      "\n"
	      "[[registry]]\n"
	      "prefix = \"docker.io/library\"\n"
	      "location = \"127.0.0.1:5000/mirror/library\"\n"
	      "insecure = true\n"
	      "[[registry.mirror]]\n"
	      "location = \"127.0.0.1:5001/m1/library\"\n"
	      "[[registry.mirror]]\n"
	      "location = 'm2.example/lib'   # literal string\n"
	      "insecure = true\n"
	      "pull-from-mirror = \"digest-only\"\n"
	      "\n"
	      "[[registry]]\n"
	      "prefix = \"docker.io/library/debian:bookworm\"\n"
	      "location = \"127.0.0.1:5000/pinned/debian:12\"\n"
	      "\n"
	      "[[registry]]\n"
	      "prefix = \"*.corp.example\"\n"
	      "insecure = true\n"
	      "\n"
	      "[[registry]]\n"
	      "location = \"quay.io\"\n"
	      "blocked = true\n");
	/* Longest prefix: docker.io/library beats docker.io; mirrors first. */
	check_plan("busybox", "127.0.0.1:5001/m1/library/busybox:latest | "
			      "127.0.0.1:5000/mirror/library/busybox:latest (insecure)");
	check_plan("debian:bookworm", "127.0.0.1:5000/pinned/debian:12");
	check_plan("debian:trixie", "127.0.0.1:5001/m1/library/debian:trixie | "
				    "127.0.0.1:5000/mirror/library/debian:trixie (insecure)");
	/* digest-only mirror used for a digest reference only */
	const char *dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	_cleanup_free_ char *by_digest = hoist_xasprintf("docker.io/library/alpine@%s", dg);
	_cleanup_free_ char *want = hoist_xasprintf(
	    "127.0.0.1:5001/m1/library/alpine@%s | m2.example/lib/alpine@%s (insecure) | "
	    "127.0.0.1:5000/mirror/library/alpine@%s (insecure)",
	    dg, dg, dg);
	check_plan(by_digest, want);
	/* docker.io outside library/: the shorter prefix */
	check_plan("someone/tool:1", "internal.example:5000/hub/someone/tool:1");
	/* "docker.io/library" must not match "docker.io/libraryx" */
	check_plan("docker.io/libraryx/a", "internal.example:5000/hub/libraryx/a:latest");
	/* wildcard: no location, the name itself, its settings apply */
	check_plan("a.b.corp.example/x/y:2", "a.b.corp.example/x/y:2 (insecure)");
	check_plan("corp.example/x", "corp.example/x:latest");
	/* a host prefix does not match another port of that host */
	check_plan("docker.io:5000/x", "docker.io:5000/x:latest");
	/* blocked, with the rule */
	check_plan("quay.io/podman/stable", "ERR: 'quay.io/podman/stable:latest' is blocked by "
					    "test.conf:26 ([[registry]] prefix 'quay.io')");
	/* not configured at all: as written */
	check_plan("ghcr.io/a/b:c", "ghcr.io/a/b:c");
}

static void test_short_names(void)
{
	reset("unqualified-search-registries = [\n"
	      "  \"reg1.example\",   # first\n"
	      "  'docker.io',\n"
	      "]\n"
	      "[aliases]\n"
	      "\"fedora\" = \"registry.fedoraproject.org/fedora\"\n"
	      "\"opensuse/leap\" = \"registry.opensuse.org/opensuse/leap\"\n");
	check_plan("fedora:40", "registry.fedoraproject.org/fedora:40");
	check_plan("opensuse/leap", "registry.opensuse.org/opensuse/leap:latest");
	check_plan("debian:12", "reg1.example/debian:12 | docker.io/library/debian:12");
	check_plan("localhost/x", "localhost/x:latest");
	/* a drop-in replaces the search list and erases an alias */
	struct hoist_error err = {0};
	tap_ok(parse("unqualified-search-registries = []\n[aliases]\n\"fedora\" = \"\"\n", "d.conf",
		     &err) == 0,
	       "drop-in parses");
	check_plan("fedora", "docker.io/library/fedora:latest");
	check_plan("debian:12", "docker.io/library/debian:12");
	/* a drop-in's [[registry]] replaces an earlier one with that prefix */
	tap_ok(parse("[[registry]]\nprefix=\"docker.io\"\nlocation=\"a.example/x\"\n", "e.conf",
		     &err) == 0,
	       "drop-in e parses");
	tap_ok(parse("[[registry]]\nprefix=\"docker.io\"\nlocation=\"b.example/y\"\n", "f.conf",
		     &err) == 0,
	       "drop-in f parses");
	check_plan("alpine", "b.example/y/library/alpine:latest");
	tap_ok(conf.n_regs == 1, "one [[registry]] left after the replacement");
}

static void test_podman_defaults(void)
{
	/* The shape of Debian's podman files (comments, a commented template,
	 * an [aliases] drop-in with comments between entries). */
	reset("# For more information on this configuration file, see "
	      "containers-registries.conf(5).\n"
	      "#\n"
	      "# # An array of host[:port] registries to try when pulling an unqualified image.\n"
	      "# unqualified-search-registries = [\"example.com\"]\n"
	      "#\n"
	      "# [[registry]]\n"
	      "# prefix = \"example.com/foo\"\n"
	      "\r\n"
	      "[aliases]\n"
	      "  # almalinux\n"
	      "  \"almalinux\" = \"docker.io/library/almalinux\"\n"
	      "  \"centos\" = \"quay.io/centos/centos\"\n"
	      "  \"ubi8/ubi\" = \"registry.access.redhat.com/ubi8/ubi\"\n"
	      "  \"registry\" = \"docker.io/library/registry\"\n");
	tap_ok(conf.n_aliases == 4 && conf.search.n == 0, "podman's default files read");
	/* Aliases only change names when nothing is local: busybox stays Docker's. */
	check_plan("busybox", "docker.io/library/busybox:latest");
	check_plan("centos:7", "quay.io/centos/centos:7");
}

static void test_errors(void)
{
	check_error("[registries.search]\nregistries = ['a.example']\n",
		    "bad.conf:1: [registries.search] is the version 1 format");
	check_error("\n\nfoo = \"x\"\n", "bad.conf:3: unknown key 'foo'");
	check_error("[[registry]]\nlocation = \"a.example\"\nmirrors = true\n",
		    "bad.conf:3: unknown key 'mirrors' in [[registry]]");
	check_error("[[registry]]\ninsecure = \"yes\"\n", "bad.conf:2: 'insecure' must be true");
	check_error("[[registry]]\nprefix = \"a.example\"\nprefix = \"b.example\"\n",
		    "bad.conf:3:1: key 'prefix' is defined twice");
	check_error("[[registry]]\nlocation = \"a.example\nx\"\n",
		    "bad.conf:2:22: string is not closed");
	check_error("x = 3\n", "bad.conf:1:5: unsupported value for the key 'x'");
	check_error("a.b = \"c\"\n", "bad.conf:1:2: dotted keys are not supported");
	check_error("x = \"\"\"long\"\"\"\n", "bad.conf:1:6: multi-line strings");
	check_error("[[registry]]\nlocation = { a = 1 }\n", "bad.conf:2:12: inline tables");
	check_error("[[registry.mirror]]\nlocation = \"a.example\"\n",
		    "bad.conf:1: [[registry.mirror]] before any [[registry]]");
	check_error("[[registry]]\nblocked = true\n", "bad.conf:1: [[registry]] has neither");
	check_error("[[registry]]\nlocation = \"https://a.example\"\n",
		    "bad.conf:2: location 'https://a.example' must not have a scheme");
	check_error("[[registry]]\nprefix = \"debian\"\n",
		    "bad.conf:1: prefix 'debian' does not start with a registry host");
	check_error("[[registry]]\nprefix = \"a.example/*\"\n", "holds a character");
	check_error(
	    "[[registry]]\nlocation = \"a.example\"\n[[registry]]\nprefix = \"a.example\"\n",
	    "bad.conf:3: prefix 'a.example' is already used at line 1");
	check_error("[aliases]\n\"docker.io/x\" = \"a.example/x\"\n",
		    "bad.conf:2: alias 'docker.io/x' is not a short name");
	check_error("[aliases]\n\"x\" = \"a.example/x:1\"\n", "may not have a tag or digest");
	check_error("[aliases]\n\"x\" = \"a.example/x\"\n[aliases]\n",
		    "bad.conf:3: [aliases] appears twice");
	check_error("short-name-mode = \"loud\"\n", "unknown short-name-mode 'loud'");
	check_error("x = \"a\\qb\"\n", "bad.conf:1:7: unknown escape '\\q'");
	check_error("x = \"\\u00\"\n", "needs 4 hex digits");
	check_error("[table\n", "bad.conf:1:7: table header is not closed");
	check_error("[[registry]]]\n", "unexpected ']'");
	check_error("x = [\"a\" \"b\"]\n", "expected ',' or ']'");
	check_error("x = [1]\n", "only arrays of strings");
	check_error("unqualified-search-registries = [\"a.example/x\"]\n",
		    "must be a host[:port] without a path");
	char nul[] = "# x\n#\0y\n";
	struct hoist_error err = {0};
	char msg[2048];
	hoist_regconf_release(&conf);
	hoist_regconf_init(&conf);
	int r = hoist_regconf_parse(&conf, nul, sizeof(nul) - 1, "nul.conf", &err);
	hoist_error_format(&err, msg, sizeof(msg));
	tap_ok(r < 0 && strstr(msg, "nul.conf:2:2: NUL byte"), "NUL byte refused: %s", msg);
	char *longline = hoist_xmalloc(5000);
	memset(longline, '#', 4999);
	longline[4999] = '\0';
	check_error(longline, "bad.conf:1: line is longer than 4096 bytes");
	free(longline);
	/* Escapes decode. */
	reset("[aliases]\n\"t\\u0065st\" = \"a.example/\\u0078\"\n");
	check_plan("test", "a.example/x:latest");
}

static void test_load(void)
{
	struct hoist_error err = {0};
	char dir[] = "/tmp/hoist-regconf-XXXXXX";
	tap_ok(mkdtemp(dir) != NULL, "temp dir");
	_cleanup_free_ char *path = hoist_xasprintf("%s/r.conf", dir);
	FILE *f = fopen(path, "w");
	fputs("[[registry]]\nprefix = \"docker.io\"\nlocation = \"x.example\"\n", f);
	fclose(f);
	hoist_regconf_release(&conf);
	hoist_regconf_init(&conf);
	tap_ok(hoist_regconf_load(&conf, path, &err) == 0 && conf.n_regs == 1,
	       "an explicit file is read");
	hoist_regconf_release(&conf);
	hoist_regconf_init(&conf);
	tap_ok(hoist_regconf_load(&conf, "/dev/null", &err) == 0 && conf.n_regs == 0 &&
		   conf.n_aliases == 0,
	       "/dev/null: nothing read");
	_cleanup_free_ char *missing = hoist_xasprintf("%s/none.conf", dir);
	tap_ok(hoist_regconf_load(&conf, missing, &err) == -ENOENT,
	       "a missing explicit file is an error");
	/* The user's file replaces the system file and its drop-ins. */
	_cleanup_free_ char *cdir = hoist_xasprintf("%s/containers", dir);
	mkdir(cdir, 0755);
	_cleanup_free_ char *ufile = hoist_xasprintf("%s/registries.conf", cdir);
	f = fopen(ufile, "w");
	fputs("unqualified-search-registries = [\"u.example\"]\n", f);
	fclose(f);
	setenv("XDG_CONFIG_HOME", dir, 1);
	unsetenv("HOIST_REGISTRIES_CONF");
	hoist_regconf_release(&conf);
	hoist_regconf_init(&conf);
	tap_ok(hoist_regconf_load(&conf, NULL, &err) == 0 && conf.files.n == 1 &&
		   conf.search.n == 1 && strcmp(conf.search.v[0], "u.example") == 0,
	       "the user's registries.conf is read alone");
	unlink(ufile);
	unlink(path);
	rmdir(cdir);
	rmdir(dir);
}

int main(void)
{
	tap_plan_auto();
	hoist_regconf_init(&conf);
	test_rewrites();
	test_short_names();
	test_podman_defaults();
	test_errors();
	test_load();
	hoist_regconf_release(&conf);
	return tap_done();
}
