/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The production image: a clean base plus one layer with the copied
 * directories, the extra files and the shared-library closure of every ELF
 * file among them, minus what the base already holds identically; then,
 * optionally, the base's package manager run in the sandbox for production
 * packages. This is what teams script today with a minimize Dockerfile
 * (ldd in a container, a tarball copied out, ADD into the base), done here
 * from the layer snapshots without running anything from the image.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hoist/ref.h"
#include "hoist/sandbox.h"
#include "minimize-private.h"

/* What the atom utilities' minimize step copies, as globs in the image. */
static const char *const default_paths[] = {
    "/usr/local/lib",	 "/usr/local/include", "/usr/local/bin", "/opt/venv",
    "/usr/lib/python3*", "/usr/bin/python3*",  "/etc/ssl",
};

void hoist_minimize_opts_init(struct hoist_minimize_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->layer.source_date_epoch = -1;
	o->stdout_fd = -1;
	o->stderr_fd = -1;
}

void hoist_minimize_result_release(struct hoist_minimize_result *r)
{
	if (!r)
		return;
	hoist_minimize_closure_release(&r->closure);
	memset(r, 0, sizeof(*r));
}

static int load_image(struct hoist_store *s, const char *name, const struct hoist_platform *pf,
		      struct hoist_image *img, struct hoist_error *err)
{
	char digest[HOIST_DIGEST_MAX];
	int r = hoist_store_resolve(s, name, digest, err);
	if (r >= 0)
		r = hoist_image_load(s, digest, pf, img, err);
	if (r < 0)
		return hoist_error_prefix(err, "image '%s'", name);
	return 0;
}

struct pathset {
	struct strset set;
	struct hoist_strv list;
};

static void ps_add(struct pathset *ps, const char *path)
{
	if (strset_add(&ps->set, path))
		hoist_strv_push(&ps->list, path);
}

static void ps_release(struct pathset *ps)
{
	strset_release(&ps->set);
	hoist_strv_release(&ps->list);
}

static void add_subtree(struct pathset *ps, const struct hoist_fsnode *n)
{
	_cleanup_free_ char *p = hoist_fstree_node_abspath(n);
	ps_add(ps, p);
	for (size_t i = 0; i < n->n_kids; i++)
		add_subtree(ps, n->kids[i]);
}

/* A copied path: a directory with everything below it; a symlink with the
 * chain to what it names (and that, when it is a directory). */
static void add_copied(struct hoist_minimize_tree *t, struct pathset *ps, const char *path)
{
	struct hoist_fsnode *n = hoist_fstree_lookup(t->fs, path);
	if (!n)
		return;
	if (n->e.type != HOIST_ENTRY_SYMLINK) {
		add_subtree(ps, n);
		return;
	}
	ps_add(ps, path);
	_cleanup_strv_ struct hoist_strv links = HOIST_STRV_INIT;
	struct hoist_fsnode *target;
	if (hoist_fstree_resolve(t->fs, path, HOIST_FSTREE_FOLLOW, &target, NULL, NULL, &links) < 0)
		return; /* dangling: copied as it is */
	for (size_t i = 0; i < links.n; i++)
		ps_add(ps, links.v[i]);
	add_subtree(ps, target);
}

static int add_pattern(struct hoist_minimize_tree *t, struct pathset *ps, const char *pattern,
		       bool required, struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv matches = HOIST_STRV_INIT;
	if (pattern[0] != '/')
		return hoist_error_set(err, -EINVAL, "'%s': paths in the image must be absolute",
				       pattern);
	tree_glob(t, pattern, &matches);
	if (matches.n == 0 && required)
		return hoist_error_set(err, -ENOENT, "'%s' not found in the image", pattern);
	for (size_t i = 0; i < matches.n; i++)
		add_copied(t, ps, matches.v[i]);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int hash_fd(int fd, char out[HOIST_DIGEST_MAX])
{
	struct hoist_sha256 h;
	char buf[65536];
	hoist_sha256_init(&h);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hoist_sha256_release(&h);
			return -errno;
		}
		if (n == 0)
			break;
		hoist_sha256_update(&h, buf, (size_t)n);
	}
	hoist_sha256_final(&h, out);
	return 0;
}

/* Does the base hold this file with the same content? */
static bool same_file(struct hoist_minimize_tree *src, const struct hoist_fsnode *a,
		      struct hoist_minimize_tree *base, const struct hoist_fsnode *b)
{
	if (a->e.size != b->e.size)
		return false;
	_cleanup_close_ int fa = hoist_fstree_open(src->fs, a);
	_cleanup_close_ int fb = hoist_fstree_open(base->fs, b);
	char da[HOIST_DIGEST_MAX], db[HOIST_DIGEST_MAX];
	if (fa < 0 || fb < 0 || hash_fd(fa, da) < 0 || hash_fd(fb, db) < 0)
		return false;
	return strcmp(da, db) == 0;
}

static void now_string(int64_t sde, char out[64])
{
	time_t t = sde >= 0 ? (time_t)sde : time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 64, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct writer_state {
	struct hoist_minimize_tree *src, *base;
	struct strset libs; /* closure paths: what prefer_base_libs may drop */
	const struct hoist_minimize_opts *opts;
	struct hoist_minimize_result *res;
};

/*
 * Where the entry for the image's `path` goes in the layer: its directories
 * resolved in the base, so that a base symlink where the image has a
 * directory (merged /usr against split) is followed here. A layer entry
 * through a lower layer's symlink is refused when the image is read (other
 * runtimes would follow it, hoist's per-layer snapshots would not).
 */
static char *layer_path(struct hoist_minimize_tree *base, const char *path)
{
	_cleanup_free_ char *dir = hoist_xstrdup(path);
	char *slash = strrchr(dir, '/');
	_cleanup_free_ char *canon = hoist_xstrdup("");
	const char *p;

	if (!slash || slash == dir)
		return hoist_xstrdup(path);
	*slash = '\0';
	for (p = dir + 1; *p;) {
		const char *end = strchrnul(p, '/');
		_cleanup_free_ char *cand = hoist_xasprintf("%s/%.*s", canon, (int)(end - p), p);
		struct hoist_fsnode *n;
		if (hoist_fstree_resolve(base->fs, cand, HOIST_FSTREE_FOLLOW, &n, NULL, NULL,
					 NULL) < 0 ||
		    n->e.type != HOIST_ENTRY_DIR) {
			/* Not in the base as a directory: the rest is the image's own. */
			free(canon);
			canon = hoist_xasprintf("%s%s", cand, end);
			break;
		}
		free(canon);
		canon = n->parent ? hoist_fstree_node_abspath(n) : hoist_xstrdup("");
		p = *end ? end + 1 : end;
	}
	return hoist_xasprintf("%s/%s", canon, slash + 1);
}

static int write_one(struct writer_state *ws, struct hoist_layer_writer *w, const char *path,
		     struct hoist_error *err)
{
	struct hoist_fsnode *n = hoist_fstree_lookup(ws->src->fs, path);
	_cleanup_free_ char *lpath = layer_path(ws->base, path);
	struct hoist_fsnode *b = hoist_fstree_lookup(ws->base->fs, lpath);
	if (!n || !n->parent)
		return 0;
	switch (n->e.type) {
	case HOIST_ENTRY_DIR:
		/* The base's directory stays as it is (its mode, its owner). A
		 * base symlink where the image has a directory (merged /usr
		 * against split) is left alone too: entries below are written
		 * where it leads (layer_path). */
		if (b && (b->e.type == HOIST_ENTRY_DIR || b->e.type == HOIST_ENTRY_SYMLINK))
			return 0;
		break;
	case HOIST_ENTRY_SYMLINK:
		if (b && b->e.type == HOIST_ENTRY_SYMLINK && b->e.linkname && n->e.linkname &&
		    strcmp(b->e.linkname, n->e.linkname) == 0) {
			ws->res->skipped_identical++;
			return 0;
		}
		break;
	case HOIST_ENTRY_FILE:
		if (b && b->e.type == HOIST_ENTRY_FILE && same_file(ws->src, n, ws->base, b)) {
			ws->res->skipped_identical++;
			return 0;
		}
		break;
	default:
		break;
	}
	if (ws->opts->prefer_base_libs && b && b->e.type != HOIST_ENTRY_DIR &&
	    strset_has(&ws->libs, path)) {
		ws->res->skipped_identical++;
		return 0;
	}

	struct hoist_entry e = n->e;
	e.path = lpath + 1;
	_cleanup_close_ int fd = -1;
	if (e.type == HOIST_ENTRY_FILE) {
		struct stat st;
		fd = hoist_fstree_open(ws->src->fs, n);
		if (fd < 0)
			return hoist_error_set(err, fd, "reading '%s' from the image: %s", path,
					       strerror(-fd));
		if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != e.size)
			return hoist_error_set(err, -EIO,
					       "'%s': snapshot content has the wrong size", path);
		ws->res->production_bytes += e.size;
		if (b && b->e.type == HOIST_ENTRY_FILE && ws->res->production_bytes >= b->e.size)
			ws->res->production_bytes -= b->e.size;
	}
	int r = hoist_layer_add(w, &e, fd, err);
	if (r < 0)
		return hoist_error_prefix(err, "adding '%s'", path);
	ws->res->added_files++;
	return 0;
}

static int push_json_strings(struct hoist_strv *out, const json_t *arr)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			return -EBADMSG;
		hoist_strv_push(out, json_string_value(v));
	}
	return 0;
}

/* Production packages: the base's package manager, in the sandbox, as one layer. */
static int install_packages(struct hoist_store *s, struct hoist_minimize_tree *base,
			    struct hoist_image *img, const struct hoist_minimize_opts *opts,
			    struct hoist_error *err)
{
	struct hoist_fsnode *n;
	const char *script;
	if (hoist_fstree_resolve(base->fs, "/usr/bin/apt-get", HOIST_FSTREE_FOLLOW, &n, NULL, NULL,
				 NULL) == 0 &&
	    n->e.type == HOIST_ENTRY_FILE)
		script = "apt-get update && apt-get install -y --no-install-recommends \"$@\" && "
			 "apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin";
	else if ((hoist_fstree_resolve(base->fs, "/sbin/apk", HOIST_FSTREE_FOLLOW, &n, NULL, NULL,
				       NULL) == 0 ||
		  hoist_fstree_resolve(base->fs, "/usr/bin/apk", HOIST_FSTREE_FOLLOW, &n, NULL,
				       NULL, NULL) == 0) &&
		 n->e.type == HOIST_ENTRY_FILE)
		script = "apk add --no-cache \"$@\"";
	else
		return hoist_error_set(err, -ENOTSUP,
				       "the production base has neither apt-get nor apk: cannot "
				       "install packages");

	_cleanup_strv_ struct hoist_strv argv = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv env = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv diff_ids = HOIST_STRV_INIT;
	hoist_strv_push(&argv, "/bin/sh");
	hoist_strv_push(&argv, "-c");
	hoist_strv_push(&argv, script);
	hoist_strv_push(&argv, "sh");
	for (size_t i = 0; i < opts->n_install; i++)
		hoist_strv_push(&argv, opts->install[i]);
	const json_t *cfg = json_object_get(img->config, "config");
	push_json_strings(&env, json_object_get(cfg, "Env"));
	bool has_path = false;
	for (size_t i = 0; i < env.n; i++)
		if (hoist_startswith(env.v[i], "PATH="))
			has_path = true;
	if (!has_path)
		hoist_strv_push(
		    &env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	hoist_strv_push(&env, "DEBIAN_FRONTEND=noninteractive");
	hoist_strv_push(&env, "HOME=/root");
	if (push_json_strings(&diff_ids, json_object_get(json_object_get(img->config, "rootfs"),
							 "diff_ids")) < 0 ||
	    diff_ids.n != img->n_layers)
		return hoist_error_set(err, -EBADMSG, "production image: bad rootfs.diff_ids");

	struct hoist_idmap idmap;
	struct hoist_rootfs rootfs = {0};
	int r = hoist_idmap_detect(HOIST_IDMODE_AUTO, &idmap, err);
	if (r < 0)
		return r;
	r = hoist_rootfs_prepare(s, &idmap, img->layers, (const char *const *)diff_ids.v,
				 img->n_layers, &rootfs, err);
	if (r < 0)
		return r;
	struct hoist_sandbox_opts o;
	hoist_sandbox_opts_init(&o);
	o.rootfs = &rootfs;
	o.idmap = &idmap;
	/* An arm64 base's apt-get runs under qemu, as `hoist run` would run it:
	 * without the platform the sandbox execs it natively (ENOEXEC). */
	struct hoist_platform plat;
	if (hoist_index_config_platform(img->config, &plat, NULL, NULL) == 0)
		o.platform = &plat;
	o.argv = (const char *const *)argv.v;
	o.env = (const char *const *)env.v;
	o.cwd = "/";
	o.stdin_fd = -1;
	o.stdout_fd = opts->stdout_fd;
	o.stderr_fd = opts->stderr_fd;
	o.want_layer = true;
	o.layer_opts = opts->layer;
	struct hoist_sandbox_result res;
	r = hoist_sandbox_run(s, &o, &res, err);
	hoist_rootfs_release(&rootfs);
	if (r < 0)
		return hoist_error_prefix(err, "installing production packages");
	if (res.exit_status != 0 || !res.has_layer)
		return hoist_error_set(err, -EIO,
				       "installing production packages failed with status %d",
				       res.exit_status);
	struct hoist_buf by = HOIST_BUF_INIT;
	hoist_buf_adds(&by, "hoist minimize --install");
	for (size_t i = 0; i < opts->n_install; i++)
		hoist_buf_addf(&by, " %s", opts->install[i]);
	char now[64];
	now_string(opts->layer.source_date_epoch, now);
	hoist_image_add_layer(img, &res.layer, res.diff_id);
	hoist_image_add_history(img, now, by.data, false);
	hoist_buf_release(&by);
	return 0;
}

int hoist_minimize_run(struct hoist_store *s, const struct hoist_minimize_opts *opts,
		       struct hoist_minimize_result *ret, struct hoist_error *err)
{
	struct hoist_image src, base, out;
	struct hoist_minimize_tree *st = NULL, *bt = NULL;
	struct pathset copied = {0}, all = {0};
	struct hoist_minimize_result res = {0};
	struct hoist_layer_writer *w = NULL;
	struct writer_state ws = {0};
	bool locked = false;
	int r;

	hoist_image_init(&src);
	hoist_image_init(&base);
	hoist_image_init(&out);
	if (!opts->image || !opts->base) {
		r = hoist_error_set(err, -EINVAL, "an image and a production base are needed");
		goto out;
	}
	if ((r = load_image(s, opts->image, opts->platform, &src, err)) < 0 ||
	    (r = load_image(s, opts->base, opts->platform, &base, err)) < 0)
		goto out;
	const char *sa = json_string_value(json_object_get(src.config, "architecture"));
	const char *ba = json_string_value(json_object_get(base.config, "architecture"));
	if (sa && ba && strcmp(sa, ba) != 0) {
		r = hoist_error_set(
		    err, -EINVAL,
		    "the production base '%s' is for '%s' but the image '%s' is for "
		    "'%s'",
		    opts->base, ba, opts->image, sa);
		goto out;
	}
	if ((r = hoist_minimize_tree_from_image(s, &src, &st, err)) < 0 ||
	    (r = hoist_minimize_tree_from_image(s, &base, &bt, err)) < 0) {
		hoist_error_prefix(err, "reading the layers");
		goto out;
	}

	/* What is copied. */
	if (!opts->no_default_paths)
		for (size_t i = 0; i < ARRAY_SIZE(default_paths); i++)
			add_pattern(st, &copied, default_paths[i], false, err);
	for (size_t i = 0; i < opts->n_paths; i++)
		if ((r = add_pattern(st, &copied, opts->paths[i], true, err)) < 0)
			goto out;
	for (size_t i = 0; i < opts->n_files; i++)
		if ((r = add_pattern(st, &copied, opts->files[i], true, err)) < 0)
			goto out;

	/* The closure of every ELF file copied. */
	{
		_cleanup_strv_ struct hoist_strv roots = HOIST_STRV_INIT;
		for (size_t i = 0; i < copied.list.n; i++) {
			struct hoist_fsnode *n = hoist_fstree_lookup(st->fs, copied.list.v[i]);
			if (n && n->e.type == HOIST_ENTRY_FILE)
				hoist_strv_push(&roots, copied.list.v[i]);
		}
		r = hoist_minimize_closure(st, (const char *const *)roots.v, roots.n, opts->flags,
					   &res.closure, err);
		if (r < 0)
			goto out;
	}

	/* Everything, with the parent directories, parents first. */
	for (size_t i = 0; i < copied.list.n; i++)
		ps_add(&all, copied.list.v[i]);
	for (size_t i = 0; i < res.closure.n; i++) {
		ps_add(&all, res.closure.files[i].path);
		if (res.closure.files[i].kind != HOIST_MINIMIZE_ROOT)
			strset_add(&ws.libs, res.closure.files[i].path);
	}
	for (size_t i = 0, n = all.list.n; i < n; i++) {
		_cleanup_free_ char *p = hoist_xstrdup(all.list.v[i]);
		for (char *slash = strrchr(p, '/'); slash && slash != p; slash = strrchr(p, '/')) {
			*slash = '\0';
			ps_add(&all, p);
		}
	}
	if (all.list.n > 1)
		qsort(all.list.v, all.list.n, sizeof(*all.list.v), cmp_str);

	res.source_bytes = tree_bytes(st->fs->root);
	res.production_bytes = tree_bytes(bt->fs->root);
	for (size_t i = 0; i < src.n_layers; i++)
		res.source_layers += (uint64_t)src.layers[i].size;

	/* Writers of blobs hold the store lock shared until the tag is written,
	 * so that a concurrent gc cannot sweep the new layer in between. */
	if ((r = hoist_store_lock(s, false, err)) < 0)
		goto out;
	locked = true;
	if ((r = hoist_layer_writer_new(s, &opts->layer, &w, err)) < 0)
		goto out;
	ws.src = st;
	ws.base = bt;
	ws.opts = opts;
	ws.res = &res;
	for (size_t i = 0; i < all.list.n; i++)
		if ((r = write_one(&ws, w, all.list.v[i], err)) < 0)
			goto out;
	struct hoist_descriptor layer;
	char diff_id[HOIST_DIGEST_MAX];
	r = hoist_layer_writer_finish(w, &layer, diff_id, err);
	w = NULL;
	if (r < 0)
		goto out;

	hoist_image_release(&out); /* init gave it an empty config */
	hoist_image_copy(&out, &base);
	/* The program's runtime config (Env, Cmd, Entrypoint, ...) comes along. */
	json_t *scfg = json_object_get(src.config, "config");
	if (scfg)
		json_object_set_new(out.config, "config", json_deep_copy(scfg));
	char now[64];
	now_string(opts->layer.source_date_epoch, now);
	json_object_set_new(out.config, "created", json_string(now));
	{
		_cleanup_free_ char *by = hoist_xasprintf(
		    "hoist minimize %s: %llu entries, %zu in the library closure", opts->image,
		    (unsigned long long)res.added_files, res.closure.n);
		hoist_image_add_layer(&out, &layer, diff_id);
		hoist_image_add_history(&out, now, by, false);
	}
	if (opts->n_install && (r = install_packages(s, bt, &out, opts, err)) < 0)
		goto out;

	struct hoist_descriptor man;
	if ((r = hoist_image_commit(s, &out, &man, err)) < 0)
		goto out;
	if (opts->tag && (r = hoist_store_tag_set(s, opts->tag, man.digest, err)) < 0)
		goto out;
	snprintf(res.digest, sizeof(res.digest), "%s", man.digest);
	for (size_t i = 0; i < out.n_layers; i++)
		res.production_layers += (uint64_t)out.layers[i].size;
	*ret = res;
	memset(&res, 0, sizeof(res));
	r = 0;
out:
	if (w)
		hoist_layer_writer_abort(w);
	if (locked)
		hoist_store_unlock(s);
	strset_release(&ws.libs);
	ps_release(&copied);
	ps_release(&all);
	hoist_minimize_tree_free(st);
	hoist_minimize_tree_free(bt);
	hoist_image_release(&src);
	hoist_image_release(&base);
	hoist_image_release(&out);
	hoist_minimize_result_release(&res);
	return r;
}
