/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The closure over a tree of real programs compiled here with gcc:
 * DT_RUNPATH with $ORIGIN, DT_RPATH inherited from the program, the tree's
 * ld.so.conf with an include glob, a library of another ABI passed over,
 * symlinks (absolute ones resolved inside the tree) and a missing library
 * reported by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "hoist/minimize.h"
#include "tap.h"

static char T[256]; /* the tree */
static char W[256]; /* scratch */

static int run(const char *const *argv)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || hoist_write_all(fd, text, strlen(text)) < 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
}

static void mkdirs(const char *rel)
{
	_cleanup_free_ char *p = hoist_xasprintf("%s/%s", T, rel);
	for (char *s = p + strlen(T) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	mkdir(p, 0755);
}

#define GCC(...)                                                                                   \
	do {                                                                                       \
		const char *const a_[] = {"gcc", __VA_ARGS__, NULL};                               \
		if (run(a_) != 0) {                                                                \
			printf("Bail out! gcc failed at line %d\n", __LINE__);                     \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static char *tp(const char *rel)
{
	return hoist_xasprintf("%s/%s", T, rel);
}
static char *wp(const char *rel)
{
	return hoist_xasprintf("%s/%s", W, rel);
}

static bool in_closure(const struct hoist_minimize_closure *c, const char *path,
		       enum hoist_minimize_kind kind)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->files[i].path, path) == 0 && c->files[i].kind == kind)
			return true;
	return false;
}

static void copy_host(const char *src, const char *rel)
{
	_cleanup_free_ char *dst = tp(rel);
	const char *const a[] = {"cp", "-L", src, dst, NULL};
	if (run(a) != 0) {
		printf("Bail out! cannot copy %s\n", src);
		exit(1);
	}
}

static void build_tree(void)
{
	_cleanup_free_ char *c_my = wp("my.c"), *c_app = wp("app.c"), *c_inner = wp("inner.c"),
			    *c_dep = wp("dep.c"), *c_app2 = wp("app2.c"), *c_conf = wp("conf.c"),
			    *c_app3 = wp("app3.c"), *c_gone = wp("gone.c"), *c_app4 = wp("app4.c"),
			    *c_abi = wp("abi.c"), *c_app5 = wp("app5.c");
	write_file(c_my, "int my(void) { return 1; }\n");
	write_file(c_app, "int my(void); int main(void) { return my() - 1; }\n");
	write_file(c_inner, "int inner(void) { return 2; }\n");
	write_file(c_dep, "int inner(void); int dep(void) { return inner(); }\n");
	write_file(c_app2, "int dep(void); int main(void) { return dep() - 2; }\n");
	write_file(c_conf, "int conf(void) { return 3; }\n");
	write_file(c_app3, "int conf(void); int main(void) { return conf() - 3; }\n");
	write_file(c_gone, "int gone(void) { return 4; }\n");
	write_file(c_app4, "int gone(void); int main(void) { return gone() - 4; }\n");
	write_file(c_abi, "int abi(void) { return 5; }\n");
	write_file(c_app5, "int abi(void); int main(void) { return abi() - 5; }\n");

	mkdirs("usr/local/bin");
	mkdirs("usr/local/lib");
	mkdirs("opt/rp");
	mkdirs("opt/conflib");
	mkdirs("etc/ld.so.conf.d");
	mkdirs("lib/x86_64-linux-gnu");
	mkdirs("lib64");

	_cleanup_free_ char *l_my = tp("usr/local/lib/libmy.so.1.0"),
			    *l_my_link = tp("usr/local/lib/libmy.so.1"), *ll = tp("usr/local/lib"),
			    *app = tp("usr/local/bin/app");
	GCC("-shared", "-fPIC", "-Wl,-soname,libmy.so.1", "-o", l_my, c_my);
	symlink("libmy.so.1.0", l_my_link);
	GCC("-o", app, c_app, l_my, "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib");

	_cleanup_free_ char *rp = tp("opt/rp"), *l_inner = tp("opt/rp/libinner.so"),
			    *l_dep = tp("opt/rp/libdep.so"), *app2 = tp("usr/local/bin/app2");
	_cleanup_free_ char *Lrp = hoist_xasprintf("-L%s", rp);
	GCC("-shared", "-fPIC", "-Wl,-soname,libinner.so", "-o", l_inner, c_inner);
	GCC("-shared", "-fPIC", "-Wl,-soname,libdep.so", "-o", l_dep, c_dep, Lrp, "-linner");
	_cleanup_free_ char *rpl = hoist_xasprintf("-Wl,-rpath-link,%s", rp);
	/* Only libdep is named: libinner is found through app2's RPATH. */
	GCC("-o", app2, c_app2, Lrp, "-ldep", rpl, "-Wl,--disable-new-dtags,-rpath,/opt/rp");

	_cleanup_free_ char *l_conf = tp("opt/conflib/libconf.so"),
			    *app3 = tp("usr/local/bin/app3"), *cl = tp("opt/conflib"),
			    *Lcl = hoist_xasprintf("-L%s", cl);
	GCC("-shared", "-fPIC", "-Wl,-soname,libconf.so", "-o", l_conf, c_conf);
	GCC("-o", app3, c_app3, Lcl, "-lconf");
	_cleanup_free_ char *conf = tp("etc/ld.so.conf"), *conf_d = tp("etc/ld.so.conf.d/opt.conf");
	write_file(conf, "# the image's loader config\ninclude /etc/ld.so.conf.d/*.conf\n");
	write_file(conf_d, "/opt/conflib\n");

	_cleanup_free_ char *l_gone = wp("libgone.so"), *app4 = tp("usr/local/bin/app4");
	GCC("-shared", "-fPIC", "-Wl,-soname,libgone.so", "-o", l_gone, c_gone);
	GCC("-o", app4, c_app4, l_gone);

	/* libabi.so: the right one in /opt/conflib (ld.so.conf), and an
	 * aarch64 one earlier in the search, in app5's RUNPATH. */
	_cleanup_free_ char *l_abi = tp("opt/conflib/libabi.so"), *app5 = tp("usr/local/bin/app5"),
			    *l_abi_bad = tp("usr/local/lib/libabi.so");
	GCC("-shared", "-fPIC", "-Wl,-soname,libabi.so", "-o", l_abi, c_abi);
	GCC("-o", app5, c_app5, Lcl, "-labi", "-Wl,--enable-new-dtags,-rpath,/usr/local/lib");
	uint8_t hdr[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
	hdr[16] = 3;   /* ET_DYN */
	hdr[18] = 183; /* EM_AARCH64 */
	hdr[52] = 64;  /* e_ehsize */
	_cleanup_close_ int fd = open(l_abi_bad, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0 || hoist_write_all(fd, hdr, sizeof(hdr)) < 0)
		exit(1);

	/* The loader and libc, with an absolute symlink that must be read
	 * inside the tree, and a relative one with too many "..". */
	copy_host("/lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libc.so.6");
	copy_host("/lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
	_cleanup_free_ char *ld = tp("lib64/ld-linux-x86-64.so.2");
	symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", ld);
	(void)ll;
}

static void test_closure(void)
{
	struct hoist_minimize_tree *t = NULL;
	struct hoist_error err = {0};
	int r = hoist_minimize_tree_from_dir(T, &t, &err);
	if (!tap_ok(r == 0, "tree from the directory (%s)", err.msg))
		return;

	const char *roots[] = {"/usr/local/bin/app", "/usr/local/bin/app2", "/usr/local/bin/app3",
			       "/usr/local/bin/app5"};
	struct hoist_minimize_closure c = {0};
	r = hoist_minimize_closure(t, roots, ARRAY_SIZE(roots), 0, &c, &err);
	tap_ok(r == 0, "closure resolves (%s)", err.msg);
	for (size_t i = 0; i < c.n; i++)
		tap_diag("%d %s%s%s", c.files[i].kind, c.files[i].path,
			 c.files[i].needed_by ? " <- " : "",
			 c.files[i].needed_by ? c.files[i].needed_by : "");
	tap_ok(in_closure(&c, "/usr/local/bin/app", HOIST_MINIMIZE_ROOT), "the program is a root");
	tap_ok(in_closure(&c, "/usr/local/lib/libmy.so.1", HOIST_MINIMIZE_SYMLINK) &&
		   in_closure(&c, "/usr/local/lib/libmy.so.1.0", HOIST_MINIMIZE_LIBRARY),
	       "RUNPATH $ORIGIN/../lib: the soname link and the real file");
	tap_ok(in_closure(&c, "/opt/rp/libdep.so", HOIST_MINIMIZE_LIBRARY),
	       "DT_RPATH of the program");
	tap_ok(in_closure(&c, "/opt/rp/libinner.so", HOIST_MINIMIZE_LIBRARY),
	       "DT_RPATH inherited by a library without one");
	tap_ok(in_closure(&c, "/opt/conflib/libconf.so", HOIST_MINIMIZE_LIBRARY),
	       "ld.so.conf include glob");
	tap_ok(in_closure(&c, "/opt/conflib/libabi.so", HOIST_MINIMIZE_LIBRARY) &&
		   !in_closure(&c, "/usr/local/lib/libabi.so", HOIST_MINIMIZE_LIBRARY),
	       "a library of another ABI is passed over");
	tap_ok(in_closure(&c, "/lib/x86_64-linux-gnu/libc.so.6", HOIST_MINIMIZE_LIBRARY),
	       "libc from the multiarch default directory");
	tap_ok(
	    in_closure(&c, "/lib64/ld-linux-x86-64.so.2", HOIST_MINIMIZE_SYMLINK) &&
		in_closure(&c, "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", HOIST_MINIMIZE_INTERP),
	    "the interpreter through an absolute symlink, inside the tree");
	tap_ok(c.missing.n == 0, "nothing missing");
	hoist_minimize_closure_release(&c);

	const char *gone[] = {"/usr/local/bin/app4"};
	memset(&err, 0, sizeof(err));
	r = hoist_minimize_closure(t, gone, 1, 0, &c, &err);
	tap_ok(r == -ENOENT &&
		   strcmp(err.msg, "'libgone.so' needed by '/usr/local/bin/app4' not found in "
				   "the image") == 0,
	       "a missing library is named: %s", err.msg);
	r = hoist_minimize_closure(t, gone, 1, HOIST_MINIMIZE_ALLOW_MISSING, &c, &err);
	tap_ok(r == 0 && c.missing.n == 1, "--allow-missing lists it instead");
	hoist_minimize_closure_release(&c);

	const char *nope[] = {"/usr/local/bin/nope"};
	r = hoist_minimize_closure(t, nope, 1, 0, &c, &err);
	tap_ok(r == -ENOENT, "a missing root is an error (%s)", err.msg);
	hoist_minimize_tree_free(t);
}

int main(void)
{
	tap_plan_auto();
	if (access("/lib/x86_64-linux-gnu/libc.so.6", R_OK) != 0 ||
	    access("/lib64/ld-linux-x86-64.so.2", R_OK) != 0)
		tap_skip_all("needs an x86_64 Debian-style host (multiarch libc)");
	const char *const probe[] = {"gcc", "--version", NULL};
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	int saved = dup(1);
	dup2(devnull, 1);
	int st = run(probe);
	dup2(saved, 1);
	close(saved);
	close(devnull);
	if (st != 0)
		tap_skip_all("gcc is not installed");

	snprintf(T, sizeof(T), "/tmp/hoist-minimize-tree.XXXXXX");
	snprintf(W, sizeof(W), "/tmp/hoist-minimize-work.XXXXXX");
	if (!mkdtemp(T) || !mkdtemp(W)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	build_tree();
	test_closure();
	const char *const rm[] = {"rm", "-rf", T, W, NULL};
	run(rm);
	return tap_done();
}
