/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshots: unpacking, the index, diffID verification, escape attempts, and
 * index-only snapshots whose content a tree's first open makes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hoist/fstree.h"
#include "hoist/layer.h"
#include "hoist/store.h"
#include "hoist/util.h"
#include "tap.h"
#include "tmpstore.h"

static char tmpdir[] = "/tmp/hoist-test-snap-XXXXXX";
static char outside[] = "/tmp/hoist-test-outside-XXXXXX";
static struct hoist_store *store;

static int mem_fd(const void *data, size_t len)
{
	char path[] = "/tmp/hoist-test-mem-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	unlink(path);
	hoist_write_all(fd, data, len);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

struct ent {
	const char *path;
	enum hoist_entry_type type;
	uint32_t mode;
	const char *data;
};

static int make_layer(const struct ent *ents, size_t n, struct hoist_descriptor *d,
		      char diff[HOIST_DIGEST_MAX])
{
	struct hoist_layer_writer *w;
	struct hoist_error err = {0};
	int rc = hoist_layer_writer_new(store, NULL, &w, &err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct hoist_entry e = {0};
		int fd = -1;
		e.path = (char *)ents[i].path;
		e.type = ents[i].type;
		e.mode = ents[i].mode;
		e.uid = 0;
		e.gid = 42;
		e.mtime = 1700000000;
		if (e.type == HOIST_ENTRY_FILE && ents[i].data) {
			e.size = strlen(ents[i].data);
			fd = mem_fd(ents[i].data, e.size);
		} else if (ents[i].data) {
			e.linkname = (char *)ents[i].data;
		}
		if (!strncmp(e.path, "WH:", 3))
			rc = hoist_layer_add_whiteout(w, e.path + 3, &err);
		else if (!strncmp(e.path, "OPQ:", 4))
			rc = hoist_layer_add_opaque(w, e.path + 4, &err);
		else
			rc = hoist_layer_add(w, &e, fd, &err);
		if (fd >= 0)
			close(fd);
	}
	if (rc < 0) {
		hoist_layer_writer_abort(w);
		return rc;
	}
	return hoist_layer_writer_finish(w, d, diff, &err);
}

static char *snap_path(const char *diff, const char *rel)
{
	return hoist_xasprintf("%s/snapshots/%s/root/%s", tmpdir, diff + 7, rel);
}

static void test_unpack(void)
{
	const struct ent ents[] = {
	    {"etc", HOIST_ENTRY_DIR, 0755, NULL},
	    {"etc/passwd", HOIST_ENTRY_FILE, 0644, "root:x:0:0::/root:/bin/sh\n"},
	    {"etc/shadow", HOIST_ENTRY_FILE, 0000, "secret\n"},
	    {"bin", HOIST_ENTRY_DIR, 0555, NULL},
	    {"bin/su", HOIST_ENTRY_FILE, 04755, "#!/bin/sh\n"},
	    {"bin/sh", HOIST_ENTRY_SYMLINK, 0777, "busybox"},
	    {"bin/su2", HOIST_ENTRY_HARDLINK, 04755, "bin/su"},
	    {"dev/null", HOIST_ENTRY_CHAR, 0666, NULL},
	    {"run/fifo", HOIST_ENTRY_FIFO, 0600, NULL},
	    {"WH:var/old", 0, 0, NULL},
	    {"OPQ:usr", 0, 0, NULL},
	};
	struct hoist_descriptor d;
	char diff[HOIST_DIGEST_MAX];
	struct hoist_error err = {0};
	struct hoist_snapshot snap = {0};
	struct stat st, st2;
	int rc;

	rc = make_layer(ents, ARRAY_SIZE(ents), &d, diff);
	tap_ok(rc == 0, "make layer");
	rc = hoist_snapshot_unpack(store, &d, diff, &err);
	tap_ok(rc == 0, "unpack (%s)", err.msg);
	rc = hoist_snapshot_unpack(store, &d, diff, &err);
	tap_ok(rc == 0, "unpack again is a no-op");

	_cleanup_free_ char *passwd = snap_path(diff, "etc/passwd");
	_cleanup_free_ char *shadow = snap_path(diff, "etc/shadow");
	_cleanup_free_ char *su = snap_path(diff, "bin/su");
	_cleanup_free_ char *su2 = snap_path(diff, "bin/su2");
	_cleanup_free_ char *sh = snap_path(diff, "bin/sh");
	_cleanup_free_ char *bin = snap_path(diff, "bin");
	_cleanup_free_ char *null = snap_path(diff, "dev/null");
	_cleanup_free_ char *fifo = snap_path(diff, "run/fifo");
	_cleanup_free_ char *old = snap_path(diff, "var/.wh.old");
	char *content = NULL;
	size_t len;
	rc = hoist_read_file_at(AT_FDCWD, passwd, 4096, &content, &len, &err);
	tap_ok(rc == 0 && !strcmp(content, "root:x:0:0::/root:/bin/sh\n"), "file content");
	free(content);
	tap_ok(stat(shadow, &st) == 0 && (st.st_mode & 07777) == 0600,
	       "mode 0000 file is u+rw on disk (%o)", st.st_mode & 07777);
	tap_ok(stat(su, &st) == 0 && (st.st_mode & 07777) == 0755, "no setuid bit on disk");
	tap_ok(stat(su2, &st2) == 0 && st.st_ino == st2.st_ino, "hardlink is a hardlink");
	tap_ok(lstat(sh, &st) == 0 && S_ISLNK(st.st_mode), "symlink is a symlink");
	tap_ok(stat(bin, &st) == 0 && (st.st_mode & 0777) == 0755, "dir 0555 is u+rwx on disk");
	tap_ok(lstat(null, &st) < 0 && lstat(fifo, &st) < 0, "special files only in the index");
	tap_ok(lstat(old, &st) < 0, "whiteouts not on disk");

	rc = hoist_snapshot_load(store, diff, &snap, &err);
	tap_ok(rc == 0 && snap.n_entries == ARRAY_SIZE(ents), "load index: %zu entries (%s)",
	       snap.n_entries, err.msg);
	if (rc == 0 && snap.n_entries == ARRAY_SIZE(ents)) {
		tap_ok(!strcmp(snap.entries[2].e.path, "etc/shadow") &&
			   snap.entries[2].e.mode == 0 && snap.entries[2].e.gid == 42 &&
			   snap.entries[2].e.mtime == 1700000000 && snap.entries[2].e.size == 7,
		       "index keeps real metadata");
		tap_ok(snap.entries[4].e.mode == 04755, "index keeps setuid");
		tap_ok(snap.entries[7].e.type == HOIST_ENTRY_CHAR, "index records char device");
		tap_ok(snap.entries[9].whiteout && !strcmp(snap.entries[9].e.path, "var/old"),
		       "index records whiteout of 'var/old'");
		tap_ok(snap.entries[10].opaque && !strcmp(snap.entries[10].e.path, "usr"),
		       "index records opaque 'usr'");
		tap_ok(!strcmp(snap.entries[5].e.linkname, "busybox"), "index symlink target");
		_cleanup_free_ char *root =
		    hoist_xasprintf("%s/snapshots/%s/root", tmpdir, diff + 7);
		tap_ok(!strcmp(snap.root, root), "snapshot root path");
	}
	hoist_snapshot_release(&snap);
}

static int count_tmp(void)
{
	_cleanup_free_ char *snaps = hoist_xasprintf("%s/snapshots", tmpdir);
	int n = 0;
	DIR *dir = opendir(snaps);
	struct dirent *de;
	while (dir && (de = readdir(dir)))
		if (hoist_startswith(de->d_name, ".tmp"))
			n++;
	if (dir)
		closedir(dir);
	return n;
}

static void test_escape(void)
{
	char diff[HOIST_DIGEST_MAX];
	struct hoist_descriptor d;
	struct hoist_error err = {0};
	struct stat st;
	int rc;

	/* a -> / then a/etc/evil ; b -> outside then b/evil */
	const struct ent e1[] = {
	    {"a", HOIST_ENTRY_SYMLINK, 0777, "/"},
	    {"a/tmp/hoist-evil", HOIST_ENTRY_FILE, 0644, "pwned\n"},
	};
	rc = make_layer(e1, ARRAY_SIZE(e1), &d, diff);
	rc = hoist_snapshot_unpack(store, &d, diff, &err);
	tap_ok(rc < 0 && strstr(err.msg, "symlink"), "write through 'a -> /' fails: %s", err.msg);
	tap_ok(lstat("/tmp/hoist-evil", &st) < 0, "nothing written outside");

	_cleanup_free_ char *evil = hoist_xasprintf("%s/evil", outside);
	const struct ent e2[] = {
	    {"b", HOIST_ENTRY_SYMLINK, 0777, outside},
	    {"b/evil", HOIST_ENTRY_FILE, 0644, "pwned\n"},
	};
	rc = make_layer(e2, ARRAY_SIZE(e2), &d, diff);
	rc = hoist_snapshot_unpack(store, &d, diff, &err);
	tap_ok(rc < 0 && lstat(evil, &st) < 0, "write through 'b -> %s' fails: %s", outside,
	       err.msg);

	/* ../ relative symlink, dir entry through it */
	const struct ent e3[] = {
	    {"c", HOIST_ENTRY_SYMLINK, 0777, "../../../../../../.."},
	    {"c/tmp", HOIST_ENTRY_DIR, 0755, NULL},
	};
	rc = make_layer(e3, ARRAY_SIZE(e3), &d, diff);
	rc = hoist_snapshot_unpack(store, &d, diff, &err);
	tap_ok(rc < 0, "mkdir through a relative escaping symlink fails: %s", err.msg);

	/* hardlink to a symlink that points outside, then writing the hardlink's name */
	const struct ent e4[] = {
	    {"s", HOIST_ENTRY_SYMLINK, 0777, evil},
	    {"h", HOIST_ENTRY_HARDLINK, 0777, "s"},
	    {"h", HOIST_ENTRY_FILE, 0644, "replaced\n"},
	};
	rc = make_layer(e4, ARRAY_SIZE(e4), &d, diff);
	rc = hoist_snapshot_unpack(store, &d, diff, &err);
	tap_ok(rc == 0 && lstat(evil, &st) < 0, "file over a hardlinked symlink stays inside (%s)",
	       err.msg);

	/* failed unpacks left no temp directories */
	tap_ok(count_tmp() == 0, "no temp snapshot left behind");
}

static void test_mismatch(void)
{
	const struct ent ents[] = {{"f", HOIST_ENTRY_FILE, 0644, "data\n"}};
	struct hoist_descriptor d;
	char diff[HOIST_DIGEST_MAX];
	struct hoist_error err = {0};
	struct stat st;

	make_layer(ents, 1, &d, diff);
	diff[10] = diff[10] == 'a' ? 'b' : 'a';
	int rc = hoist_snapshot_unpack(store, &d, diff, &err);
	_cleanup_free_ char *p = hoist_xasprintf("%s/snapshots/%s", tmpdir, diff + 7);
	tap_ok(rc == -EBADMSG && strstr(err.msg, "diffID mismatch"), "diffID mismatch: %s",
	       err.msg);
	tap_ok(lstat(p, &st) < 0, "mismatch leaves no snapshot");
}

static int read_fd(int fd, char *buf, size_t len)
{
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static void test_lazy(void)
{
	const struct ent ents[] = {
	    {"etc", HOIST_ENTRY_DIR, 0755, NULL},
	    {"etc/group", HOIST_ENTRY_FILE, 0644, "root:x:0:\n"},
	    {"etc/link", HOIST_ENTRY_SYMLINK, 0777, "group"},
	    {"WH:var/old", 0, 0, NULL},
	};
	struct hoist_descriptor d;
	char diff[HOIST_DIGEST_MAX], buf[64];
	struct hoist_error err = {0};
	struct hoist_snapshot snap = {0};
	struct stat st;
	int rc;

	rc = make_layer(ents, ARRAY_SIZE(ents), &d, diff);
	rc = rc ? rc : hoist_snapshot_index(store, &d, diff, &err);
	tap_ok(rc == 0, "index-only snapshot (%s)", err.msg);
	_cleanup_free_ char *root = hoist_xasprintf("%s/snapshots/%s/root", tmpdir, diff + 7);
	_cleanup_free_ char *group = snap_path(diff, "etc/group");
	tap_ok(lstat(root, &st) < 0 && errno == ENOENT, "no content written");
	rc = hoist_snapshot_index(store, &d, diff, &err);
	tap_ok(rc == 0 && lstat(root, &st) < 0, "index again is a no-op");
	rc = hoist_snapshot_load(store, diff, &snap, &err);
	tap_ok(rc == 0 && snap.n_entries == ARRAY_SIZE(ents) && !strcmp(snap.root, root) &&
		   snap.entries[1].e.size == 10 && snap.entries[3].whiteout,
	       "index-only snapshot loads (%s)", err.msg);

	/* Paths outside any snapshot root make nothing. */
	_cleanup_free_ char *near = hoist_xasprintf("%s/snapshots/%s/rootx", tmpdir, diff + 7);
	tap_ok(hoist_snapshot_materialize_path(store, "/etc/passwd", &err) == 0 &&
		   hoist_snapshot_materialize_path(store, near, &err) == 0 && lstat(root, &st) < 0,
	       "other paths make no content");

	/* The build's policy: content as host paths, made on the first open. */
	struct hoist_fstree *t = hoist_fstree_new(0);
	t->store = store;
	hoist_fstree_apply_snapshot(t, &snap, &err);
	struct hoist_fsnode *n = hoist_fstree_lookup(t, "etc/group");
	tap_ok(n && n->src && !strcmp(n->src, group), "content path in the snapshot");
	/* A tree that got the path from another one (COPY --from) makes it too. */
	struct hoist_fstree *t2 = hoist_fstree_new(0);
	t2->store = store;
	struct hoist_fsnode *n2 = hoist_fstree_put(t2->root, "g", &n->e, n->src);
	rc = read_fd(hoist_fstree_open(t2, n2), buf, sizeof(buf));
	tap_ok(rc == 0 && !strcmp(buf, "root:x:0:\n") && lstat(root, &st) == 0,
	       "first open unpacks the content");
	rc = read_fd(hoist_fstree_open(t, n), buf, sizeof(buf));
	tap_ok(rc == 0 && !strcmp(buf, "root:x:0:\n"), "later opens read it");
	tap_ok(count_tmp() == 0, "no temp content left behind");
	hoist_fstree_free(t2);
	hoist_fstree_free(t);
	rc = hoist_snapshot_unpack(store, &d, diff, &err);
	tap_ok(rc == 0, "unpack of a made snapshot is a no-op");
	hoist_snapshot_release(&snap);

	/* Minimize's policy: content beneath the layer's root. */
	const struct ent ents2[] = {{"bin", HOIST_ENTRY_DIR, 0755, NULL},
				    {"bin/true", HOIST_ENTRY_FILE, 0755, "ELF?\n"}};
	rc = make_layer(ents2, ARRAY_SIZE(ents2), &d, diff);
	rc = rc ? rc : hoist_snapshot_index(store, &d, diff, &err);
	rc = rc ? rc : hoist_snapshot_load(store, diff, &snap, &err);
	t = hoist_fstree_new(HOIST_FSTREE_LAYER_CONTENT | HOIST_FSTREE_ENTRY_ORDER);
	t->store = store;
	hoist_fstree_apply_snapshot(t, &snap, &err);
	n = hoist_fstree_lookup(t, "bin/true");
	rc = n ? read_fd(hoist_fstree_open(t, n), buf, sizeof(buf)) : -1;
	tap_ok(rc == 0 && !strcmp(buf, "ELF?\n"), "layer content opens beneath the made root");
	hoist_fstree_free(t);
	hoist_snapshot_release(&snap);

	/* The escape checks still hold when the content is made later. */
	_cleanup_free_ char *evil = hoist_xasprintf("%s/lazy-evil", outside);
	const struct ent e1[] = {
	    {"b", HOIST_ENTRY_SYMLINK, 0777, outside},
	    {"b/lazy-evil", HOIST_ENTRY_FILE, 0644, "pwned\n"},
	};
	rc = make_layer(e1, ARRAY_SIZE(e1), &d, diff);
	rc = rc ? rc : hoist_snapshot_index(store, &d, diff, &err);
	_cleanup_free_ char *snap3 = hoist_xasprintf("%s/snapshots/%s", tmpdir, diff + 7);
	tap_ok(rc == -ELOOP && strstr(err.msg, "entry 'b/lazy-evil'") &&
		   strstr(err.msg, "symlink 'b'") && strstr(err.msg, d.digest),
	       "the index pass refuses an escaping layer: %s", err.msg);
	tap_ok(lstat(evil, &st) < 0 && lstat(snap3, &st) < 0 && count_tmp() == 0,
	       "and leaves no snapshot, index-only or not");
	rc = hoist_snapshot_materialize(store, diff, &err);
	tap_ok(rc == -ENOENT && lstat(evil, &st) < 0, "so there is no content to make");

	/* A diffID mismatch leaves no index-only snapshot either. */
	const struct ent e2[] = {{"f", HOIST_ENTRY_FILE, 0644, "lazy\n"}};
	make_layer(e2, 1, &d, diff);
	diff[10] = diff[10] == 'a' ? 'b' : 'a';
	rc = hoist_snapshot_index(store, &d, diff, &err);
	_cleanup_free_ char *p = hoist_xasprintf("%s/snapshots/%s", tmpdir, diff + 7);
	tap_ok(rc == -EBADMSG && lstat(p, &st) < 0, "index: diffID mismatch: %s", err.msg);
	tap_ok(hoist_snapshot_materialize(store, diff, &err) == -ENOENT,
	       "no content without a snapshot");
}

/* Index a layer of ents; 0 or the error. */
static int index_of(const struct ent *ents, size_t n, struct hoist_error *err)
{
	struct hoist_descriptor d;
	char diff[HOIST_DIGEST_MAX];
	int rc = make_layer(ents, n, &d, diff);
	return rc ? rc : hoist_snapshot_index(store, &d, diff, err);
}

/* The index pass refuses what the unpacker refuses, naming the entry. */
static void test_index_rule(void)
{
	struct hoist_error err = {0};
	int rc;
#define BAD(name, want, ...)                                                                       \
	do {                                                                                       \
		const struct ent v[] = {__VA_ARGS__};                                              \
		hoist_error_clear(&err);                                                           \
		rc = index_of(v, ARRAY_SIZE(v), &err);                                             \
		tap_ok(rc == -ELOOP && strstr(err.msg, want), "%s: %s", name, err.msg);            \
	} while (0)
#define GOOD(name, ...)                                                                            \
	do {                                                                                       \
		const struct ent v[] = {__VA_ARGS__};                                              \
		hoist_error_clear(&err);                                                           \
		rc = index_of(v, ARRAY_SIZE(v), &err);                                             \
		tap_ok(rc == 0, "%s (%s)", name, err.msg);                                         \
	} while (0)

	BAD("a -> /etc, then a/passwd", "entry 'a/passwd': path goes through the symlink 'a'",
	    {"a", HOIST_ENTRY_SYMLINK, 0777, "/etc"}, {"a/passwd", HOIST_ENTRY_FILE, 0644, "x\n"});
	BAD("a -> ../../.., then a/x", "entry 'a/x'", {"a", HOIST_ENTRY_SYMLINK, 0777, "../../.."},
	    {"a/x", HOIST_ENTRY_FILE, 0644, "x\n"});
	BAD("a deeper symlink", "symlink 'd/e/l'", {"d/e/l", HOIST_ENTRY_SYMLINK, 0777, "/"},
	    {"d/e/l/f/g", HOIST_ENTRY_DIR, 0755, NULL});
	BAD("a hardlink whose target goes through a symlink",
	    "entry 'h': its hardlink target 'a/passwd' goes through the symlink 'a'",
	    {"a", HOIST_ENTRY_SYMLINK, 0777, "/etc"},
	    {"h", HOIST_ENTRY_HARDLINK, 0644, "a/passwd"});
	BAD("a whiteout through a symlink", "entry 'a/.wh.passwd'",
	    {"a", HOIST_ENTRY_SYMLINK, 0777, "/etc"}, {"WH:a/passwd", 0, 0, NULL});
	BAD("an opaque marker through a symlink", "entry 'a/.wh..wh..opq'",
	    {"a", HOIST_ENTRY_SYMLINK, 0777, "/etc"}, {"OPQ:a", 0, 0, NULL});
	BAD("a file as a directory", "'f', which is not a directory",
	    {"f", HOIST_ENTRY_FILE, 0644, "x\n"}, {"f/x", HOIST_ENTRY_FILE, 0644, "x\n"});
	BAD("a directory replaced by a symlink", "symlink 'd'", {"d", HOIST_ENTRY_DIR, 0755, NULL},
	    {"d/x", HOIST_ENTRY_FILE, 0644, "x\n"}, {"d", HOIST_ENTRY_SYMLINK, 0777, "/"},
	    {"d/y", HOIST_ENTRY_FILE, 0644, "x\n"});

	GOOD("a symlink to a directory inside, used by name only",
	     {"usr/bin", HOIST_ENTRY_DIR, 0755, NULL},
	     {"bin", HOIST_ENTRY_SYMLINK, 0777, "usr/bin"},
	     {"usr/bin/sh", HOIST_ENTRY_FILE, 0755, "x\n"});
	GOOD("a symlink replaced by a directory, then used",
	     {"a", HOIST_ENTRY_SYMLINK, 0777, "/etc"}, {"a", HOIST_ENTRY_DIR, 0755, NULL},
	     {"a/passwd", HOIST_ENTRY_FILE, 0644, "x\n"});
	GOOD("a file replaced by a directory", {"f", HOIST_ENTRY_FILE, 0644, "x\n"},
	     {"f", HOIST_ENTRY_DIR, 0755, NULL}, {"f/x", HOIST_ENTRY_FILE, 0644, "x\n"});
	GOOD("a directory replaced and made again drops what was below",
	     {"d/s", HOIST_ENTRY_SYMLINK, 0777, "/"}, {"d", HOIST_ENTRY_FILE, 0644, "x\n"},
	     {"d", HOIST_ENTRY_DIR, 0755, NULL}, {"d/s/x", HOIST_ENTRY_FILE, 0644, "x\n"});
	GOOD("a hardlink to a symlink, a whiteout beside one",
	     {"s", HOIST_ENTRY_SYMLINK, 0777, "/etc/passwd"},
	     {"h", HOIST_ENTRY_HARDLINK, 0777, "s"}, {"WH:s2", 0, 0, NULL}, {"WH:d/x", 0, 0, NULL});
#undef BAD
#undef GOOD
	tap_ok(count_tmp() == 0, "refused layers leave no temp snapshot");
}

/* The stack: a symlink of a lower layer, used by a higher one. */
static void test_stack_rule(void)
{
	struct hoist_error err = {0};
	struct hoist_image img = {0};
	struct hoist_fstree *t = NULL;
	struct hoist_descriptor d[2];
	char diff[2][HOIST_DIGEST_MAX];
	const struct ent lower[] = {{"etc", HOIST_ENTRY_DIR, 0755, NULL},
				    {"etc/passwd", HOIST_ENTRY_FILE, 0644, "root\n"},
				    {"a", HOIST_ENTRY_SYMLINK, 0777, "/etc"}};
	const struct ent upper[] = {{"a/passwd", HOIST_ENTRY_FILE, 0644, "evil\n"}};
	const struct ent upper_ok[] = {{"a", HOIST_ENTRY_DIR, 0755, NULL},
				       {"a/passwd", HOIST_ENTRY_FILE, 0644, "mine\n"}};
	int rc = make_layer(lower, ARRAY_SIZE(lower), &d[0], diff[0]);
	rc = rc ? rc : make_layer(upper, ARRAY_SIZE(upper), &d[1], diff[1]);

	json_t *ids = json_array();
	json_array_append_new(ids, json_string(diff[0]));
	json_array_append_new(ids, json_string(diff[1]));
	img.config = json_pack("{s:{s:s,s:o}}", "rootfs", "type", "layers", "diff_ids", ids);
	img.layers = d;
	img.n_layers = 2;
	tap_ok(rc == 0 && !hoist_fstree_image_checked(store, &img), "stack not checked yet");
	rc = hoist_fstree_from_image(store, &img, 0, &t, &err);
	tap_ok(rc == -ELOOP && !t && strstr(err.msg, "layer 2") && strstr(err.msg, diff[1]) &&
		   strstr(err.msg, "entry 'a/passwd'") &&
		   strstr(err.msg, "symlink '/a' (from layer 1)"),
	       "a higher layer's entry through a lower layer's symlink: %s", err.msg);
	tap_ok(!hoist_fstree_image_checked(store, &img), "a refused stack is not marked");
	rc = hoist_fstree_from_image(
	    store, &img, HOIST_FSTREE_ENTRY_ORDER | HOIST_FSTREE_LAYER_CONTENT, &t, &err);
	tap_ok(rc == -ELOOP, "minimize's policy refuses it too");

	/* The upper layer replaces the symlink with a directory first: fine. */
	rc = make_layer(upper_ok, ARRAY_SIZE(upper_ok), &d[1], diff[1]);
	json_array_set_new(ids, 1, json_string(diff[1]));
	rc = rc ? rc : hoist_fstree_from_image(store, &img, 0, &t, &err);
	struct hoist_fsnode *n = t ? hoist_fstree_lookup(t, "a/passwd") : NULL;
	char buf[64];
	tap_ok(rc == 0 && n && read_fd(hoist_fstree_open(t, n), buf, sizeof(buf)) == 0 &&
		   !strcmp(buf, "mine\n"),
	       "a directory over the lower symlink is a directory (%s)", err.msg);
	tap_ok(hoist_fstree_image_checked(store, &img), "a clean stack is marked");
	hoist_fstree_free(t);
	json_decref(img.config);
}

static void test_big_index(void)
{
	struct hoist_layer_writer *w;
	struct hoist_error err = {0};
	struct hoist_descriptor d;
	char diff[HOIST_DIGEST_MAX];
	struct hoist_snapshot snap = {0};
	struct timespec t0, t1, t2;
	int rc = hoist_layer_writer_new(store, NULL, &w, &err);

	for (int i = 0; rc == 0 && i < 10000; i++) {
		char path[64];
		struct hoist_entry e = {0};
		if (i % 100 == 0) {
			snprintf(path, sizeof(path), "d%03d", i / 100);
			e.type = HOIST_ENTRY_DIR;
			e.mode = 0755;
			e.path = path;
			rc = hoist_layer_add(w, &e, -1, &err);
		}
		snprintf(path, sizeof(path), "d%03d/f%05d", i / 100, i);
		e.type = HOIST_ENTRY_FILE;
		e.mode = 0644;
		e.path = path;
		e.size = 0;
		rc = hoist_layer_add(w, &e, -1, &err);
	}
	rc = hoist_layer_writer_finish(w, &d, diff, &err);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = hoist_snapshot_unpack(store, &d, diff, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rc = rc ? rc : hoist_snapshot_load(store, diff, &snap, &err);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	double ms_load = (double)(t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) / 1e6;
	double ms_unp = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	tap_diag("10100 entries: unpack %.1f ms, index load %.1f ms", ms_unp, ms_load);
	tap_ok(rc == 0 && snap.n_entries == 10100, "10k-entry layer unpacked and loaded");
	tap_ok(ms_load < 500, "index loads fast");
	hoist_snapshot_release(&snap);
}

int main(void)
{
	tap_plan_auto();
	if (!mkdtemp(outside))
		tap_skip_all("mkdtemp failed");
	store = tmpstore_open(tmpdir, NULL);
	if (!store) {
		tmpstore_rm_rf(outside);
		return tap_done();
	}
	test_unpack();
	test_escape();
	test_index_rule();
	test_stack_rule();
	test_mismatch();
	test_lazy();
	test_big_index();
	tmpstore_close(store, tmpdir);
	tmpstore_rm_rf(outside);
	return tap_done();
}
