/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Private to the build module: the in-memory filesystem tree of a stage,
 * the context file list with its stat cache, Go's filepath.Match, and the
 * COPY/ADD implementation.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "hoist/build.h"
#include "hoist/context.h"
#include "hoist/fstree.h"
#include "hoist/instructions.h"
#include "hoist/layer.h"
#include "hoist/oci.h"
#include "hoist/store.h"
#include "hoist/util.h"

/* ---- filesystem tree (stage-tree.c) --------------------------------------- */

/*
 * A stage's filesystem is a struct hoist_fstree (hoist/fstree.h) made with
 * no flags: a layer's whiteouts go first, hardlinks stay hardlinks (they are
 * written into layers again), and file contents stay where they are (a
 * snapshot file, a context file, a temp file), `src` naming that host path.
 * Nodes' gen/gen_below say what a step wrote; aux is a context tree's
 * struct ctxent. What follows is the build's own on top of it.
 */

/*
 * mkdir -p: every missing directory is created with mode 0755, uid:gid and
 * mtime and marked written in the current generation; existing ones keep
 * their metadata. -ENOTDIR when a component is not a directory.
 */
int stage_tree_mkdir_p(struct hoist_fstree *t, const char *path, uint32_t uid, uint32_t gid,
		       int64_t mtime, struct hoist_fsnode **ret);
/*
 * Write every node written in generation `gen` (and its parent directories)
 * as one layer. Files' contents are read from their src.
 */
int stage_tree_write_layer(struct hoist_fstree *t, struct hoist_store *s,
			   const struct hoist_layer_opts *lo, unsigned gen,
			   struct hoist_descriptor *ret_desc, char ret_diff_id[HOIST_DIGEST_MAX],
			   struct hoist_error *err);

/* ---- Go's filepath.Match (match.c) ------------------------------------ */

/* 1 match, 0 no match, -EINVAL bad pattern. Matches one path (with '/'). */
int go_path_match(const char *pattern, const char *name);
bool has_wildcards(const char *s);
/* Go's path.Clean. New string. */
char *go_path_clean(const char *p);

/* ---- context files and stat cache (ctxfiles.c) ------------------------ */

/* Just the lstat fields a build uses: a whole struct stat per entry made a
 * 20,000-file context's array three times larger (page faults, copying). */
struct ctxent {
	char *path; /* relative, "" never (the root is implicit); in the arena */
	char *link; /* symlink target (heap) */
	uint64_t size, ino;
	int64_t mtime_ns, ctime_ns;
	uint32_t mode, uid, gid;
	/* The content's sha256 as 64 hex digits (no NUL), once hashed: in the
	 * mapped stat cache or in the arena. NULL: not hashed yet. Kept out of
	 * line because a no-op rebuild holds 20,000 of these. */
	const char *hex;
};

/* One stat cache record in memory; path is not owned. */
struct statcache_rec {
	const char *path;
	uint64_t size, ino;
	int64_t mtime_ns, ctime_ns;
	size_t seq; /* position before sorting: ties keep the newest */
	char hex[HOIST_SHA256_HEX + 1];
};

struct statcache_disk;

struct ctxfiles {
	int dirfd; /* not owned */
	char *abs_root;
	struct ctxent *v; /* walk order */
	size_t n, alloc;
	struct ctxent **by_path; /* sorted by strcmp(path) */
	struct ctxarena *arena;	 /* the entries' paths */
	/* stat cache: the mapped file (ctxfiles.c) and this build's misses */
	char *cache_path;
	void *disk_map;
	size_t disk_len;
	const struct statcache_disk *disk; /* sorted by path */
	const char *disk_strings;
	size_t n_disk, disk_hint;
	struct statcache_rec *fresh; /* appended unsorted */
	size_t n_new, alloc_new;
	int64_t cache_written_ns; /* when the loaded stat cache was written */
	bool cache_dirty;
};

int ctxfiles_load(struct hoist_store *s, const struct hoist_context *ctx, const char *abs_root,
		  struct ctxfiles **ret, struct hoist_error *err);
void ctxfiles_free(struct ctxfiles *c);
/* Write the stat cache back when it changed (best effort). */
void ctxfiles_save(struct ctxfiles *c);
struct ctxent *ctxfiles_find(struct ctxfiles *c, const char *path);
/* sha256 of a regular file's content, through the stat cache (sets e->hex). */
int ctxfiles_hash(struct ctxfiles *c, struct ctxent *e, struct hoist_error *err);
/* "sha256:<hex>" of a hashed entry. */
void ctxent_digest(const struct ctxent *e, char out[HOIST_DIGEST_MAX]);
/*
 * Where a statcache for a context lives, and the hash a statcache stores for
 * a file: exposed for tests.
 */
char *statcache_path(struct hoist_store *s, const char *abs_root);
/*
 * Whether a record with these times is racily clean for a stat cache written
 * at written_ns (not strictly older than that second): it must be re-hashed.
 */
bool statcache_racy(int64_t written_ns, int64_t mtime_ns, int64_t ctime_ns);
/* Write a stat cache of n records sorted by path, unique (atomically). */
int statcache_write(const char *path, int64_t written_ns, const struct statcache_rec *recs,
		    size_t n);
/* The context as a tree (nodes' aux point at their ctxent; src at the file). */
struct hoist_fstree *ctxfiles_tree(struct ctxfiles *c);

/* ---- cache keys (key.c) ------------------------------------------------ */

struct keyhash {
	struct hoist_sha256 h;
	/* Fields are small (a COPY of 20,000 files feeds ~120,000 of them):
	 * they are gathered here and hashed in large pieces. */
	size_t n;
	unsigned char buf[4096];
};
/* Feed raw bytes to the key (key_add() frames a labelled field). */
void key_put(struct keyhash *k, const void *data, size_t len);
void key_begin(struct keyhash *k, const char *parent_key, const struct hoist_platform *p);
void key_add(struct keyhash *k, const char *label, const char *value);
void key_addn(struct keyhash *k, const char *label, const void *data, size_t len);
void key_finish(struct keyhash *k, char out[HOIST_DIGEST_MAX]);

/* ---- COPY / ADD (copy.c) ---------------------------------------------- */

struct copy_req {
	const struct hoist_instr *in;
	const char *file;	/* Dockerfile name for errors */
	struct hoist_strv srcs; /* expanded */
	char *dest;		/* expanded, absolute (workdir applied), trailing '/' kept */
	bool dest_is_dir;
	bool add;
	bool has_chown;
	uint32_t uid, gid;
	int chmod;		   /* -1: keep */
	struct ctxfiles *ctx;	   /* when copying from the context (for hashing) */
	struct hoist_fstree *from; /* the source tree: context, stage or image */
	struct hoist_strv excludes;
	bool from_context; /* owners become 0:0 unless --chown */
	char *tmpdir;	   /* for extracted tars / downloads */
	unsigned *tmp_counter;
	int64_t mtime_now;
	char **downloads; /* per src: downloaded file for URLs, else NULL */
	/* Heredoc sources (`COPY <<EOF /dest`): names and temp files holding
	 * their (chomped, expanded) contents, copied after srcs. */
	struct hoist_strv hd_names, hd_files;
	/* --parents: per src, the part kept out of the destination (the text
	 * before a `/./` pivot, cleaned; "" without a pivot). */
	struct hoist_strv pivots;
	/* The context files one source copied, to keep its hard links (copy.c). */
	struct copy_link *links;
	size_t n_links, alloc_links;
};

/*
 * Add the sources' identity to the key (paths, types, modes, bytes, link
 * targets). For `from` sources, the selected paths and their metadata.
 */
int copy_hash_sources(struct copy_req *r, struct keyhash *k, struct hoist_error *err);
/* Do the copy into tree t (generation t->gen). */
int copy_run(struct copy_req *r, struct hoist_fstree *t, struct hoist_error *err);

/* ---- ADD's own sources (add.c) ---------------------------------------- */

/* Whether the first n bytes of a file start a tar ADD extracts. */
bool add_archive_magic(const unsigned char *b, size_t n, bool *compressed);
/* Extract the tar on fd (name for messages) into t at r's destination. */
int add_extract_tar(struct copy_req *r, struct hoist_fstree *t, int fd, const char *name,
		    bool compressed, struct hoist_error *err);
/* Fetch source idx (a URL) into r->downloads[idx]. */
int add_download(struct copy_req *r, size_t idx, const char *url, struct hoist_error *err);
/* The file name a URL's last path component gives (into buf). */
const char *add_url_basename(const char *url, char *buf, size_t size);
void copy_req_release(struct copy_req *r);

/* ---- the engine (engine*.c) ------------------------------------------- */

/*
 * The engine is split by concern: engine.c (driver, stage step loop, shared
 * helpers), engine-stage.c (FROM, the stage graph), engine-meta.c
 * (instruction dispatch, config-only instructions), engine-fs.c (COPY/ADD,
 * RUN, user lookup), engine-cache.c (cache records, layers, history).
 */

struct runstate; /* run-private.h */

struct stagestate {
	bool built, building;
	struct hoist_image img;
	char key[HOIST_DIGEST_MAX];
	struct hoist_fstree *tree; /* NULL: rebuild from img's layers when needed */
	/* BuildKit keeps one environment per stage that both ARG (with a value)
	 * and ENV write, the later write winning; the image's Env holds only
	 * what ENV wrote. args is that environment's difference from Env: the
	 * "K=V" ARG values no later ENV replaced. A stage FROM this one starts
	 * with a copy (BuildKit 20.10 carries the LLB state's environment into
	 * the child), so ARGs declared here keep their values there. */
	struct hoist_strv args;
	/* The names of the ARGs this stage declared, in order, a repeated
	 * declaration listed again (not inherited): RUN's "|N K=V ..." history
	 * prefix, as BuildKit 20.10 writes it. */
	struct hoist_strv argdecl;
	bool cmd_set;
	/* What the stage's RUNs execute as and its cache keys name: the build's
	 * target, FROM --platform, or the platform of the stage it starts from. */
	struct hoist_platform plat;
	int base; /* the stage this one starts FROM, or -1 */
};

/* One --cache-from, loaded (cacheio.c). */
struct cache_src {
	const struct hoist_cache_spec *spec;
	json_t *by_key; /* key -> record */
};

struct build {
	struct hoist_store *s;
	const struct hoist_build_opts *o;
	struct hoist_dockerfile *df;
	const char *file;
	struct hoist_context *ctx;
	char *abs_ctx;
	struct ctxfiles *cf;
	struct hoist_fstree *ctxtree;
	struct hoist_strv bargs; /* "K=V" from the options */
	bool *bargs_used;
	struct hoist_strv meta;	  /* global ARGs */
	struct hoist_strv predef; /* TARGETPLATFORM, ... */
	struct stagestate *st;
	struct hoist_platform plat;
	int64_t sde;
	char *tmpdir;
	unsigned tmpn;
	int steps, cached;
	struct runstate *run; /* RUN: identity mapping (run.c) */
	bool locked;	      /* holds the store lock shared */
	/* Remote caches (cacheio.c): the sources, the keys this build's steps
	 * ended on (with their stages, for --cache-to) and bytes downloaded. */
	struct cache_src *csrc;
	size_t n_csrc;
	struct hoist_strv keys;
	int *key_stage;
	uint64_t cache_bytes;
	int cache_hits;
};
struct stepctx {
	struct build *b;
	struct stagestate *st;
	size_t stage;
	int stepno, n_steps;
};

/* engine.c */
void build_emit(struct build *b, enum hoist_build_event_kind kind, int stage, int step, int n_steps,
		const char *text, bool cached, double secs);
double build_now(void);
/* The "created" timestamp: SOURCE_DATE_EPOCH, else now. New string. */
char *build_created_now(struct build *b);
int64_t build_mtime_now(struct build *b);
/* "K=V" vectors: the last K wins on lookup; set replaces in place. */
const char *kv_lookup(const struct hoist_strv *v, const char *name);
void kv_set(struct hoist_strv *v, const char *key, const char *value);
/* Remove every K from v. */
void kv_del(struct hoist_strv *v, const char *key);
/* A --build-arg by name, marking it used; NULL if not given. */
const char *build_barg(struct build *b, const char *name);
/* The image config's "config" object (created when missing). */
json_t *stage_cfg(struct stagestate *st);
/* Expansion environment: the stage's Env, then its ARG values (the later of
 * ARG and ENV wins, see struct stagestate). */
char **stage_expand_env(struct stagestate *st);
int build_expand(struct build *b, char **envp, const char *word, int line, char **ret,
		 struct hoist_error *err);
int build_expand_words(struct build *b, char **envp, const char *word, int line, char ***ret,
		       struct hoist_error *err);
/* Build stage idx (its base stages and --from stages first); once. */
int build_stage(struct build *b, size_t idx, struct hoist_error *err);

/* engine-stage.c */
/* A stage by name or index, -1 if neither. */
int stage_ref(struct build *b, const char *name);
/*
 * An image by reference or digest from the store, pulled when missing. When
 * it is not in the store and the pull fails too, *ret_missing (may be NULL)
 * is set and err holds the registry's error as it is, for
 * stage_image_missing(); other errors are prefixed "FILE:LINE: what".
 */
int load_store_image(struct build *b, const char *name, const struct hoist_platform *plat,
		     struct hoist_image *img, const char *file, int line, const char *what,
		     bool *ret_missing, struct hoist_error *err);
/*
 * The error for a name that is no stage and no local image, once a registry
 * had none either (err holds its error): "FILE:LINE: [ctx: ]no stage or
 * local image named 'x' (stages: 'a', 'b'; did you mean 'a'?), and the
 * registry lookup failed: <its error, one line>". The stages listed are
 * those the naming stage could use: the named ones before it for a FROM
 * (from), every other for COPY --from. Returns err's code.
 */
int stage_image_missing(struct build *b, size_t stage, bool from, const char *name, int line,
			const char *ctx, struct hoist_error *err);
/* Expand every stage's FROM (as BuildKit, used or not): an empty name is an
 * error that names the ARG to set. Before anything is built. */
int stages_check_from(struct build *b, struct hoist_error *err);
/* Start a stage's image (FROM); the base's ONBUILD triggers go to *triggers. */
int stage_base(struct build *b, size_t idx, struct hoist_strv *triggers, struct hoist_error *err);

/* engine-cache.c */
int ensure_tree(struct build *b, struct stagestate *st, struct hoist_error *err);
int record_put(struct build *b, struct stagestate *st, struct hoist_error *err);
/* 1 on a hit (st->img replaced), 0 on a miss. */
int record_get(struct build *b, struct stagestate *st);
void add_history(struct build *b, struct stagestate *st, const char *text, bool empty);
/* Key for a step: parent, platform, text, plus extra fields. */
void step_key(struct build *b, struct stagestate *st, const char *text, struct keyhash *k);
int do_layer_of(struct build *b, struct stagestate *st, struct hoist_fstree *t, unsigned gen,
		const char *history, struct hoist_error *err);
/* Overlay `src` (a --link layer's tree) onto `dst`: entries replace, dirs merge. */
void merge_tree(struct hoist_fsnode *dst, const struct hoist_fsnode *src, unsigned gen);
int do_layer(struct build *b, struct stagestate *st, const char *history, struct hoist_error *err);

/* cacheio.c: build caches outside the store */
/* Load opts->cache_from (a source that fails to load is a warning). */
void cache_sources_load(struct build *b);
void cache_sources_free(struct build *b);
/* After a local miss: 1 when a source had a usable record for st->key and
 * it is now a local record (its blobs fetched and verified), else 0 (a
 * record that does not verify is a warning). */
int cache_sources_lookup(struct build *b, struct stagestate *st);
/* Note that st ended a step on st->key (for --cache-to). */
void cache_note_key(struct build *b, struct stagestate *st);
/* type=inline: the final stage's records into img's config, before its commit. */
int cache_inline_embed(struct build *b, size_t target, struct hoist_image *img,
		       struct hoist_error *err);
/* Export the records to every opts->cache_to but inline (with
 * cache_to_defer: only make each manifest, its digest into md[i]). */
int cache_export(struct build *b, size_t target, char md[][HOIST_DIGEST_MAX],
		 struct hoist_error *err);

/* layerblobs.c: one blob per layer and compression */
/* The layer writer options of the build's --compression and level. */
struct hoist_layer_opts build_layer_opts(const struct build *b);
/* Remember d as layer diff_id's blob in the build's compression. */
int layer_blob_note(struct build *b, const struct hoist_descriptor *d, const char *diff_id,
		    struct hoist_error *err);
/*
 * Every layer of img in the build's compression (and level): a blob made
 * before for it, the layer's own when it is of that compression and not
 * known as another level, else one made now (and remembered). Foreign
 * layer media types are kept. For the final image, before its commit.
 */
int layers_in_compression(struct build *b, struct hoist_image *img, struct hoist_error *err);

/* engine-fs.c */
/* "user[:group]" as BuildKit's readUser resolves it; why says what failed. */
int resolve_owner(struct hoist_fstree *t, const char *spec, uint32_t *uid, uint32_t *gid, char *why,
		  size_t why_size);
int run_copy(struct stepctx *sc, const struct hoist_instr *in, char **envp,
	     struct hoist_error *err);
/* RUN: run.c prepares and executes; the cache and history stay here. */
int run_run(struct stepctx *sc, const struct hoist_instr *in, struct hoist_error *err);

/* engine-meta.c */
int run_step(struct stepctx *sc, const struct hoist_instr *in, struct hoist_error *err);
