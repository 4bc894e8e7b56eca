/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The merged tree under both policies: a layer that writes and whites out
 * the same name, hardlinks as links or files, content locations, "file/.."
 * and the resolver's optional outputs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hoist/fstree.h"
#include "tap.h"

#define MINIMIZE_FLAGS                                                                             \
	(HOIST_FSTREE_ENTRY_ORDER | HOIST_FSTREE_HARDLINKS_AS_FILES | HOIST_FSTREE_LAYER_CONTENT | \
	 HOIST_FSTREE_STRICT_DOTS | HOIST_FSTREE_DEPTH_LIMIT)

static struct hoist_snapshot_entry ent(const char *path, enum hoist_entry_type type,
				       const char *link)
{
	struct hoist_snapshot_entry se = {.e = {.path = (char *)path,
						.type = type,
						.mode = 0644,
						.size = 5,
						.linkname = (char *)link}};
	return se;
}

static struct hoist_snapshot_entry mark(const char *path, bool opaque)
{
	struct hoist_snapshot_entry se = {.e = {.path = (char *)path}};
	se.whiteout = !opaque;
	se.opaque = opaque;
	return se;
}

static void apply(struct hoist_fstree *t, const char *root, struct hoist_snapshot_entry *v,
		  size_t n)
{
	struct hoist_snapshot snap = {.root = (char *)root, .entries = v, .n_entries = n};
	struct hoist_error err = {0};
	if (hoist_fstree_apply_snapshot(t, &snap, &err) < 0)
		tap_diag("apply: %s", err.msg);
}

static struct hoist_fstree *image(unsigned flags)
{
	struct hoist_fstree *t = hoist_fstree_new(flags);
	struct hoist_snapshot_entry l1[] = {
	    ent("a", HOIST_ENTRY_DIR, NULL),	      ent("a/x", HOIST_ENTRY_FILE, NULL),
	    ent("d/y", HOIST_ENTRY_FILE, NULL),	      ent("f", HOIST_ENTRY_FILE, NULL),
	    ent("h", HOIST_ENTRY_HARDLINK, "f"),      ent("lnk", HOIST_ENTRY_SYMLINK, "/a"),
	    ent("rel", HOIST_ENTRY_SYMLINK, "lnk/x"),
	};
	/* Writes a/x and whites it out; d opaque after writing d/z. */
	struct hoist_snapshot_entry l2[] = {
	    ent("a/x", HOIST_ENTRY_FILE, NULL),
	    mark("a/x", false),
	    ent("d/z", HOIST_ENTRY_FILE, NULL),
	    mark("d", true),
	};
	apply(t, "/snap/1", l1, ARRAY_SIZE(l1));
	apply(t, "/snap/2", l2, ARRAY_SIZE(l2));
	return t;
}

static struct hoist_fsnode *get(struct hoist_fstree *t, const char *path, unsigned flags)
{
	struct hoist_fsnode *n = NULL;
	return hoist_fstree_resolve(t, path, flags, &n, NULL, NULL, NULL) == 0 ? n : NULL;
}

static void test_build_policy(void)
{
	struct hoist_fstree *t = image(0);
	struct hoist_fsnode *n = get(t, "/a/x", 0);
	tap_ok(n && n->src && strcmp(n->src, "/snap/2/a/x") == 0,
	       "whiteouts first: the layer's own a/x stays, content as a host path");
	tap_ok(get(t, "/d/z", 0) && !get(t, "/d/y", 0), "opaque hides the lower d/y only");
	n = get(t, "/h", 0);
	tap_ok(n && n->e.type == HOIST_ENTRY_HARDLINK && !n->src, "a hardlink stays a hardlink");
	tap_ok(get(t, "/f/..", 0) == t->root, "'f/..' steps back to the root");
	n = get(t, "/rel", HOIST_FSTREE_FOLLOW);
	tap_ok(n && n->e.type == HOIST_ENTRY_FILE, "relative link through an absolute one");
	struct hoist_fsnode *parent = NULL;
	char *name = NULL;
	int r = hoist_fstree_resolve(t, "/lnk/new", HOIST_FSTREE_FOLLOW, &n, &parent, &name, NULL);
	_cleanup_free_ char *pp = parent ? hoist_fstree_node_path(parent) : NULL;
	tap_ok(r == -ENOENT && pp && strcmp(pp, "a") == 0 && name && strcmp(name, "new") == 0,
	       "a missing last component names its parent and name");
	free(name);
	hoist_fstree_free(t);
}

static void test_minimize_policy(void)
{
	struct hoist_fstree *t = image(MINIMIZE_FLAGS);
	tap_ok(!get(t, "/a/x", 0), "entry order: the whiteout after a/x removes it");
	struct hoist_fsnode *z = get(t, "/d/z", 0);
	tap_ok(z && z->layer == 2 && !get(t, "/d/y", 0), "opaque removes lower layers' children");
	struct hoist_fsnode *h = get(t, "/h", 0);
	tap_ok(h && h->e.type == HOIST_ENTRY_FILE && h->e.size == 5 && h->src &&
		   strcmp(h->src, "h") == 0 && h->layer == 1,
	       "a hardlink reads as a file with its own content path in its layer");
	struct hoist_fsnode *n = NULL;
	tap_ok(hoist_fstree_resolve(t, "/f/..", 0, &n, NULL, NULL, NULL) == -ENOTDIR,
	       "'f/..' is -ENOTDIR");
	struct hoist_strv links = {0};
	int r = hoist_fstree_resolve(t, "/rel", HOIST_FSTREE_FOLLOW, &n, NULL, NULL, &links);
	tap_ok(r == -ENOENT && links.n == 2 && strcmp(links.v[0], "/rel") == 0 &&
		   strcmp(links.v[1], "/lnk") == 0,
	       "links passed are collected as absolute paths");
	hoist_strv_release(&links);
	_cleanup_free_ char *abs = hoist_fstree_node_abspath(z);
	_cleanup_free_ char *rel = hoist_fstree_node_path(z);
	tap_ok(strcmp(abs, "/d/z") == 0 && strcmp(rel, "d/z") == 0, "node paths");
	tap_ok(hoist_fstree_open(t, h) < 0, "content outside an existing snapshot does not open");
	hoist_fstree_free(t);
}

static void test_depth_limit(void)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	for (int i = 0; i < HOIST_FSTREE_MAX_DEPTH + 1; i++)
		hoist_buf_adds(&b, "d/");
	hoist_buf_adds(&b, "f");
	struct hoist_entry e = {.path = b.data, .type = HOIST_ENTRY_FILE};
	struct hoist_fstree *limited = hoist_fstree_new(HOIST_FSTREE_DEPTH_LIMIT);
	struct hoist_fstree *plain = hoist_fstree_new(0);
	tap_ok(!hoist_fstree_add(limited, &e, 0) && hoist_fstree_add(plain, &e, 0),
	       "entries too deep are dropped only with the depth limit");
	hoist_fstree_free(limited);
	hoist_fstree_free(plain);
	hoist_buf_release(&b);
}

/* Apply l1 then l2 under flags; the second apply's result, its message in msg. */
static int stack2(unsigned flags, struct hoist_snapshot_entry *l1, size_t n1,
		  struct hoist_snapshot_entry *l2, size_t n2, char *msg, size_t len)
{
	struct hoist_fstree *t = hoist_fstree_new(flags);
	struct hoist_snapshot s1 = {
	    .diff_id = "sha256:11", .root = (char *)"/snap/1", .entries = l1, .n_entries = n1};
	struct hoist_snapshot s2 = {
	    .diff_id = "sha256:22", .root = (char *)"/snap/2", .entries = l2, .n_entries = n2};
	struct hoist_error err = {0};
	int rc = hoist_fstree_apply_snapshot(t, &s1, &err);
	if (rc == 0)
		rc = hoist_fstree_apply_snapshot(t, &s2, &err);
	snprintf(msg, len, "%s", err.msg);
	hoist_fstree_free(t);
	return rc;
}

/*
 * An entry of a higher layer through a lower layer's symlink is refused
 * under both policies (another runtime would follow the link); replacing
 * the symlink first, or a symlink used only as a name, is fine.
 */
static void test_stack_symlinks(void)
{
	static const unsigned policies[] = {0, MINIMIZE_FLAGS};
	for (size_t p = 0; p < ARRAY_SIZE(policies); p++) {
		unsigned f = policies[p];
		const char *pn = f ? "minimize" : "build";
		char msg[1024];
		int rc;
		struct hoist_snapshot_entry low[] = {
		    ent("etc", HOIST_ENTRY_DIR, NULL), ent("etc/passwd", HOIST_ENTRY_FILE, NULL),
		    ent("a", HOIST_ENTRY_SYMLINK, "/etc"),
		    ent("up", HOIST_ENTRY_SYMLINK, "../../.."), ent("f", HOIST_ENTRY_FILE, NULL)};
#define RUN(...)                                                                                   \
	do {                                                                                       \
		struct hoist_snapshot_entry hi[] = {__VA_ARGS__};                                  \
		rc = stack2(f, low, ARRAY_SIZE(low), hi, ARRAY_SIZE(hi), msg, sizeof(msg));        \
	} while (0)
		RUN(ent("a/passwd", HOIST_ENTRY_FILE, NULL));
		tap_ok(rc == -ELOOP && strstr(msg, "layer 2 ('sha256:22'): entry 'a/passwd'") &&
			   strstr(msg, "symlink '/a' (from layer 1)"),
		       "%s: a/passwd through the lower 'a -> /etc': %s", pn, msg);
		RUN(ent("up/x", HOIST_ENTRY_DIR, NULL));
		tap_ok(rc == -ELOOP && strstr(msg, "symlink '/up'"),
		       "%s: up/x through 'up -> ../../..'", pn);
		RUN(ent("h", HOIST_ENTRY_HARDLINK, "a/passwd"));
		tap_ok(rc == -ELOOP && strstr(msg, "its hardlink target 'a/passwd'"),
		       "%s: a hardlink whose target goes through it: %s", pn, msg);
		RUN(mark("a/passwd", false));
		tap_ok(rc == -ELOOP && strstr(msg, "entry 'a/.wh.passwd'"),
		       "%s: a whiteout through it: %s", pn, msg);
		RUN(mark("a", true));
		tap_ok(rc == -ELOOP && strstr(msg, "entry 'a/.wh..wh..opq'"),
		       "%s: an opaque marker of it: %s", pn, msg);
		RUN(ent("x", HOIST_ENTRY_FILE, NULL), ent("a/passwd", HOIST_ENTRY_FILE, NULL),
		    mark("a", false));
		tap_ok(rc == -ELOOP, "%s: through it before the layer's whiteout of it: %s", pn,
		       msg);

		RUN(ent("a", HOIST_ENTRY_DIR, NULL), ent("a/passwd", HOIST_ENTRY_FILE, NULL));
		tap_ok(rc == 0, "%s: a directory replaces the symlink, then is used (%s)", pn, msg);
		RUN(ent("a", HOIST_ENTRY_DIR, NULL), mark("a", true),
		    ent("a/x", HOIST_ENTRY_FILE, NULL));
		tap_ok(rc == 0, "%s: a new opaque directory over the symlink (%s)", pn, msg);
		RUN(mark("a", false), ent("a/passwd", HOIST_ENTRY_FILE, NULL));
		tap_ok(rc == 0, "%s: the symlink whited out first, then a directory (%s)", pn, msg);
		RUN(ent("f/x", HOIST_ENTRY_FILE, NULL), ent("a", HOIST_ENTRY_SYMLINK, "/"),
		    ent("h", HOIST_ENTRY_HARDLINK, "a"), ent("etc/group", HOIST_ENTRY_FILE, NULL));
		tap_ok(rc == 0,
		       "%s: a directory over a lower file, links to and over the symlink (%s)", pn,
		       msg);
		/* A snapshot indexed before the index pass had the rule. */
		struct hoist_snapshot_entry one[] = {ent("s", HOIST_ENTRY_SYMLINK, "/"),
						     ent("s/x", HOIST_ENTRY_FILE, NULL)};
		rc = stack2(f, one, ARRAY_SIZE(one), NULL, 0, msg, sizeof(msg));
		tap_ok(rc == -ELOOP && strstr(msg, "(from this layer)"),
		       "%s: the rule within one layer too: %s", pn, msg);
		struct hoist_snapshot_entry two[] = {ent("g", HOIST_ENTRY_FILE, NULL),
						     ent("g/x", HOIST_ENTRY_FILE, NULL)};
		rc = stack2(f, two, ARRAY_SIZE(two), NULL, 0, msg, sizeof(msg));
		tap_ok(rc == -ELOOP && strstr(msg, "which is not a directory"),
		       "%s: and a file of the same layer as a directory: %s", pn, msg);
#undef RUN
	}
}

int main(void)
{
	tap_plan_auto();
	test_build_policy();
	test_minimize_policy();
	test_depth_limit();
	test_stack_symlinks();
	return tap_done();
}
