/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The steps that change the filesystem, as the engine drives them: COPY and
 * ADD (expansion, heredoc sources, the source tree, the key, --link) around
 * copy.c, and RUN around run.c; plus user and group names resolved through
 * the stage's /etc/passwd and /etc/group.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "build-private.h"
#include "run-private.h"
#include "hoist/shell.h"

#define PASSWD_MAX ((size_t)4 << 20)

/* ---- users ------------------------------------------------------------- */

static int lookup_db(struct hoist_fstree *t, const char *file, const char *name, uint32_t *ret_id,
		     uint32_t *ret_gid)
{
	_cleanup_free_ char *data = NULL;
	if (!t || hoist_fstree_read_file(t, file, PASSWD_MAX, &data, NULL) < 0)
		return -ENOENT;
	for (char *line = data, *nl; line && *line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		char *f[4] = {0};
		char *p = line;
		for (int i = 0; i < 4 && p; i++) {
			f[i] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = '\0';
		}
		if (!f[0] || strcmp(f[0], name) != 0 || !f[2])
			continue;
		uint64_t id, gid = 0;
		if (hoist_parse_u64(f[2], UINT32_MAX, &id) < 0)
			continue;
		if (ret_gid && (!f[3] || hoist_parse_u64(f[3], UINT32_MAX, &gid) < 0))
			continue;
		*ret_id = (uint32_t)id;
		if (ret_gid)
			*ret_gid = (uint32_t)gid;
		return 0;
	}
	return -ENOENT;
}

/* "user[:group]" as BuildKit's readUser resolves it. */
int resolve_owner(struct hoist_fstree *t, const char *spec, uint32_t *uid, uint32_t *gid, char *why,
		  size_t why_size)
{
	_cleanup_free_ char *u = hoist_xstrdup(spec);
	char *g = strchr(u, ':');
	uint64_t n;
	if (g)
		*g++ = '\0';
	if (!*u) {
		*uid = 0;
		*gid = 0;
	} else if (hoist_parse_u64(u, UINT32_MAX, &n) == 0) {
		*uid = (uint32_t)n;
		*gid = (uint32_t)n;
	} else if (lookup_db(t, "/etc/passwd", u, uid, gid) < 0) {
		snprintf(why, why_size,
			 "unable to find user %s: no matching entries in passwd file", u);
		return -ENOENT;
	}
	if (g && *g) {
		if (hoist_parse_u64(g, UINT32_MAX, &n) == 0) {
			*gid = (uint32_t)n;
		} else if (lookup_db(t, "/etc/group", g, gid, NULL) < 0) {
			snprintf(why, why_size,
				 "unable to find group %s: no matching entries in group file", g);
			return -ENOENT;
		}
	}
	return 0;
}

/* BuildKit's ChompHeredocContent: strip leading tabs from every line. */
static char *chomp_tabs(const char *s)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	bool bol = true;
	for (; *s; s++) {
		if (bol && *s == '\t')
			continue;
		bol = *s == '\n';
		hoist_buf_addc(&b, *s);
	}
	return b.data ? hoist_buf_detach(&b, NULL) : hoist_xstrdup("");
}

/*
 * A heredoc source of COPY/ADD: its content (chomped for <<-, expanded
 * unless the terminator was quoted, with quotes kept as BuildKit's
 * SkipProcessQuotes does) goes to a temp file named after the heredoc.
 */
static int heredoc_source(struct build *b, struct copy_req *r, const struct hoist_instr_heredoc *h,
			  char **envp, int line, struct hoist_error *err)
{
	_cleanup_free_ char *content =
	    h->chomp ? chomp_tabs(h->content) : hoist_xstrdup(h->content);
	if (h->expand) {
		struct hoist_shell sh = {.escape = '\\',
					 .flags = HOIST_SHELL_SKIP_PROCESS_QUOTES,
					 .lookup = hoist_shell_lookup_envp,
					 .userdata = envp};
		char *x = NULL;
		int rc = hoist_shell_expand_word(&sh, content, &x, err);
		if (rc < 0) {
			err->line = line;
			snprintf(err->file, sizeof(err->file), "%s", b->file);
			return rc;
		}
		free(content);
		content = x;
	}
	_cleanup_free_ char *path = hoist_xasprintf("%s/h%u", b->tmpdir, b->tmpn++);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || hoist_write_all(fd, content, strlen(content)) < 0)
		return hoist_error_set(err, -errno, "writing heredoc '%s' to '%s': %s", h->name,
				       path, strerror(errno));
	hoist_strv_push(&r->hd_names, h->name);
	hoist_strv_take(&r->hd_files, TAKE_PTR(path));
	return 0;
}

int run_copy(struct stepctx *sc, const struct hoist_instr *in, char **envp, struct hoist_error *err)
{
	struct build *b = sc->b;
	struct stagestate *st = sc->st;
	struct copy_req r = {0};
	struct hoist_buf text = HOIST_BUF_INIT;
	_cleanup_free_ char *from = NULL, *chown = NULL, *chmod = NULL, *dest = NULL;
	_cleanup_free_ char *history = NULL;
	struct stagestate *src_st = NULL;
	struct hoist_image from_img;
	struct hoist_fstree *from_tree = NULL;
	bool add = in->kind == HOIST_INSTR_ADD;
	int rc = 0;
	struct keyhash k;
	double t0 = build_now();

	hoist_image_init(&from_img);
	r.in = in;
	r.file = b->file;
	r.add = add;
	r.chmod = -1;
	r.tmpdir = b->tmpdir;
	r.tmp_counter = &b->tmpn;
	r.mtime_now = build_mtime_now(b);

	size_t next_hd = 0;
	for (size_t i = 0; i < in->srcs.n; i++) {
		char *w;
		bool is_hd = false;
		struct hoist_df_heredoc h = {0};
		if (next_hd < in->n_heredocs &&
		    hoist_df_parse_heredoc_word(in->srcs.v[i], &is_hd, &h) >= 0 && is_hd) {
			hoist_df_heredoc_release(&h);
			rc = heredoc_source(b, &r, &in->heredocs[next_hd++], envp, in->line, err);
			if (rc < 0)
				goto out;
			continue;
		}
		hoist_df_heredoc_release(&h);
		if ((rc = build_expand(b, envp, in->srcs.v[i], in->line, &w, err)) < 0)
			goto out;
		if (in->parents) {
			/* The pivot: what comes before "/./" is not kept. */
			const char *piv = strstr(w, "/./");
			_cleanup_free_ char *pre =
			    piv ? hoist_xstrndup(w, (size_t)(piv - w)) : hoist_xstrdup("");
			_cleanup_free_ char *abs = hoist_xasprintf("/%s", pre);
			_cleanup_free_ char *clean = go_path_clean(abs);
			hoist_strv_push(&r.pivots, clean + 1);
		}
		hoist_strv_take(&r.srcs, w);
	}
	if ((rc = build_expand(b, envp, in->dest, in->line, &dest, err)) < 0)
		goto out;
	if (in->from && (rc = build_expand(b, envp, in->from, in->line, &from, err)) < 0)
		goto out;
	if (in->chown && (rc = build_expand(b, envp, in->chown, in->line, &chown, err)) < 0)
		goto out;
	if (in->chmod && (rc = build_expand(b, envp, in->chmod, in->line, &chmod, err)) < 0)
		goto out;
	for (size_t i = 0; i < in->excludes.n; i++) {
		char *w;
		if ((rc = build_expand(b, envp, in->excludes.v[i], in->line, &w, err)) < 0)
			goto out;
		hoist_strv_take(&r.excludes, w);
	}
	if (chmod && *chmod) {
		uint64_t m = 0;
		const char *p = chmod;
		bool ok = *p != '\0';
		for (; *p; p++) {
			if (*p < '0' || *p > '7' || m > 07777) {
				ok = false;
				break;
			}
			m = m * 8 + (uint64_t)(*p - '0');
		}
		if (!ok || m > 07777) {
			rc = hoist_error_set_at(
			    err, -EINVAL, b->file, in->line, 0,
			    "invalid --chmod '%s': only octal modes are supported", chmod);
			goto out;
		}
		r.chmod = (int)m;
	}

	/* dest: relative to WORKDIR; a trailing '/' (or ".") makes it a directory. */
	{
		const char *wd = json_string_value(json_object_get(stage_cfg(st), "WorkingDir"));
		_cleanup_free_ char *joined =
		    dest[0] == '/' ? hoist_xstrdup(dest)
				   : hoist_xasprintf("%s/%s", wd && *wd ? wd : "/", dest);
		_cleanup_free_ char *clean = go_path_clean(joined);
		size_t dl = strlen(dest);
		r.dest_is_dir = dl == 0 || strcmp(dest, ".") == 0 || dest[dl - 1] == '/';
		r.dest = hoist_xstrdup(clean);
	}
	/* --parents always copies into the destination as a directory. */
	if (in->parents)
		r.dest_is_dir = true;
	if (in->srcs.n > 1 && !r.dest_is_dir) {
		rc = hoist_error_set_at(err, -EINVAL, b->file, in->line, 0,
					"when using %s with more than one source file, the "
					"destination must be a directory and end with a /",
					in->keyword);
		goto out;
	}

	/* The source tree. */
	if (from) {
		int si = stage_ref(b, from);
		if (si >= 0 && (size_t)si == sc->stage) {
			rc = hoist_error_set_at(err, -EINVAL, b->file, in->line, 0,
						"%s --from=%s: a stage cannot copy from itself",
						in->keyword, from);
			goto out;
		}
		if (si >= 0) {
			if ((rc = build_stage(b, (size_t)si, err)) < 0)
				goto out;
			src_st = &b->st[si];
		} else {
			bool missing;
			rc = load_store_image(b, from, &st->plat, &from_img, b->file, in->line,
					      "COPY --from: stage or image", &missing, err);
			if (rc < 0 && missing)
				rc = stage_image_missing(b, sc->stage, false, from, in->line,
							 "COPY --from", err);
			if (rc < 0)
				goto out;
		}
	}

	/* Expanded text of the step. */
	hoist_buf_addf(&text, "%s", in->keyword);
	if (from)
		hoist_buf_addf(&text, " --from=%s", from);
	if (chown)
		hoist_buf_addf(&text, " --chown=%s", chown);
	if (chmod)
		hoist_buf_addf(&text, " --chmod=%s", chmod);
	if (in->link)
		hoist_buf_adds(&text, " --link");
	if (in->parents)
		hoist_buf_adds(&text, " --parents");
	if (in->checksum)
		hoist_buf_addf(&text, " --checksum=%s", in->checksum);
	for (size_t i = 0; i < r.excludes.n; i++)
		hoist_buf_addf(&text, " --exclude=%s", r.excludes.v[i]);
	for (size_t i = 0; i < r.srcs.n; i++)
		hoist_buf_addf(&text, " %s", r.srcs.v[i]);
	for (size_t i = 0; i < r.hd_names.n; i++)
		hoist_buf_addf(&text, " <<%s", r.hd_names.v[i]);
	hoist_buf_addf(&text, " %s", dest);

	step_key(b, st, text.data, &k);
	key_add(&k, "dest", r.dest);
	if (src_st) {
		key_add(&k, "from-stage", src_st->key);
		if (!src_st->tree && (rc = ensure_tree(b, src_st, err)) < 0) {
			hoist_sha256_release(&k.h);
			goto out;
		}
		r.from = src_st->tree;
	} else if (from) {
		key_add(&k, "from-image", from_img.manifest_digest);
		if ((rc = hoist_fstree_from_image(b->s, &from_img, 0, &from_tree, err)) < 0) {
			hoist_sha256_release(&k.h);
			goto out;
		}
		r.from = from_tree;
	} else {
		if (!b->cf) {
			rc = ctxfiles_load(b->s, b->ctx, b->abs_ctx, &b->cf, err);
			if (rc < 0) {
				hoist_sha256_release(&k.h);
				goto out;
			}
			b->ctxtree = ctxfiles_tree(b->cf);
		}
		r.ctx = b->cf;
		r.from = b->ctxtree;
		r.from_context = true;
	}
	rc = copy_hash_sources(&r, &k, err);
	if (rc < 0) {
		hoist_sha256_release(&k.h);
		goto out;
	}
	key_finish(&k, st->key);

	/* BuildKit's commit message: expanded sources, then " <<NAME" per
	 * heredoc, then the expanded destination; flags are not shown. */
	struct hoist_buf hist = HOIST_BUF_INIT;
	hoist_buf_adds(&hist, in->keyword);
	for (size_t i = 0; i < r.srcs.n; i++)
		hoist_buf_addf(&hist, " %s", r.srcs.v[i]);
	for (size_t i = 0; i < r.hd_names.n; i++)
		hoist_buf_addf(&hist, " <<%s", r.hd_names.v[i]);
	hoist_buf_addf(&hist, " %s # buildkit", dest);
	history = hoist_buf_detach(&hist, NULL);
	if (record_get(b, st)) {
		b->cached++;
		build_emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno, sc->n_steps,
			   text.data, true, build_now() - t0);
		goto out;
	}
	if ((rc = ensure_tree(b, st, err)) < 0)
		goto out;
	if (chown) {
		char why[256];
		r.has_chown = true;
		if (resolve_owner(st->tree, chown, &r.uid, &r.gid, why, sizeof(why)) < 0) {
			rc = hoist_error_set_at(err, -EINVAL, b->file, in->line, 0,
						"%s --chown=%s: %s", in->keyword, chown, why);
			goto out;
		}
	}
	if (in->link) {
		/*
		 * --link: the copy is made on an empty tree, so the layer does not
		 * depend on what the destination held (symlinks in the dest path are
		 * not followed, missing parents are fresh 0755 directories, existing
		 * ones are not consulted), and then merged over the stage's tree as
		 * an overlay would.
		 */
		struct hoist_fstree *lt = hoist_fstree_new(0);
		lt->store = b->s; /* content copied from lazy snapshots is unpacked on open */
		lt->gen = 1;
		rc = copy_run(&r, lt, err);
		if (rc >= 0 && (rc = do_layer_of(b, st, lt, 1, history, err)) < 0)
			rc = hoist_error_prefix(err, "%s:%d: %s", b->file, in->line, in->keyword);
		if (rc >= 0) {
			st->tree->gen++;
			merge_tree(st->tree->root, lt->root, st->tree->gen);
		}
		hoist_fstree_free(lt);
		if (rc < 0)
			goto out;
	} else {
		st->tree->gen++;
		if ((rc = copy_run(&r, st->tree, err)) < 0)
			goto out;
		if ((rc = do_layer(b, st, history, err)) < 0) {
			rc = hoist_error_prefix(err, "%s:%d: %s", b->file, in->line, in->keyword);
			goto out;
		}
	}
	if ((rc = record_put(b, st, err)) < 0)
		goto out;
	b->steps++;
	build_emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno, sc->n_steps, text.data,
		   false, build_now() - t0);
out:
	copy_req_release(&r);
	hoist_buf_release(&text);
	hoist_image_release(&from_img);
	hoist_fstree_free(from_tree);
	return rc;
}

/* RUN: run.c prepares and executes; the cache and history stay here. */
int run_run(struct stepctx *sc, const struct hoist_instr *in, struct hoist_error *err)
{
	struct build *b = sc->b;
	struct stagestate *st = sc->st;
	double t0 = build_now();
	struct run_req r = {
	    .in = in,
	    .file = b->file,
	    .o = b->o,
	    .plat = &st->plat,
	    .abs_ctx = b->abs_ctx,
	    .tmpdir = b->tmpdir,
	    .tmp_counter = &b->tmpn,
	    .sde = b->sde,
	    .img = &st->img,
	    .args = &st->args,
	    .argdecl = &st->argdecl,
	    .stage = b->df->stages[sc->stage].name,
	    .stage_index = (int)sc->stage,
	    .step = sc->stepno,
	    .n_steps = sc->n_steps,
	};
	int rc = run_prepare(&r, st->key, err);
	if (rc >= 0) {
		memcpy(st->key, r.key, sizeof(st->key));
		if (record_get(b, st)) {
			b->cached++;
			build_emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno,
				   sc->n_steps, r.text, true, build_now() - t0);
			goto out;
		}
		rc = run_exec(b->s, &b->run, &r, err);
	}
	if (rc >= 0 && st->img.n_layers > 0) {
		const json_t *ids =
		    json_object_get(json_object_get(st->img.config, "rootfs"), "diff_ids");
		const char *id = json_string_value(json_array_get(ids, st->img.n_layers - 1));
		if (id)
			rc = layer_blob_note(b, &st->img.layers[st->img.n_layers - 1], id, err);
	}
	if (rc >= 0) {
		hoist_fstree_free(st->tree); /* rebuilt from the layers when needed */
		st->tree = NULL;
		add_history(b, st, r.history, false);
		rc = record_put(b, st, err);
	}
	if (rc >= 0) {
		b->steps++;
		build_emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno, sc->n_steps,
			   r.text, false, build_now() - t0);
	}
out:
	run_req_release(&r);
	return rc;
}
