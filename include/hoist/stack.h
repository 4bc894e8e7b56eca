/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Image stacks (ucsd-ets/datahub-docker-stack's layout): a spec.yml names
 * images, each the folder of that name next to the spec, with an optional
 * parent (`depend_on`). A parent's result is its children's BASE_IMAGE and
 * what `FROM <parent image_name>` resolves to. Which images to rebuild comes
 * from `git diff --name-only REF` and change_ignore.json; an image whose tag
 * already holds a build with the same input hash (label
 * org.hoist.input-hash) is not rebuilt. See docs/stack.md.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/build.h"
#include "hoist/error.h"
#include "hoist/oci.h"
#include "hoist/store.h"
#include "hoist/util.h"

struct hoist_registry_opts;

/* Bounds on a spec (untrusted input). */
#define HOIST_STACK_MAX_SPEC ((size_t)1 << 20)
#define HOIST_STACK_MAX_IMAGES 256
#define HOIST_STACK_MAX_DEPTH 32 /* YAML nesting */
#define HOIST_STACK_MAX_LIST 256 /* items of any list or map */

#define HOIST_STACK_LABEL_HASH "org.hoist.input-hash"
#define HOIST_STACK_LABEL_IMAGE "org.hoist.stack.image"

struct hoist_stack_image {
	char *name;		      /* key under images: and the folder name */
	char *image_name;	      /* "ghcr.io/ucsd-ets/datascience-notebook" */
	char *depend_on;	      /* parent's key, or NULL */
	size_t parent;		      /* index of the parent, SIZE_MAX for a root */
	struct hoist_strv build_args; /* "K=V" */
	struct hoist_strv info_cmds;  /* keys of all_info_cmds (or legacy `manifests`) */
	bool integration_tests;
	bool prune;
	int line; /* in the spec, for messages */
};

struct hoist_stack_info_cmd {
	char *key;
	char *description;
	char *command; /* run with /bin/sh -c */
};

struct hoist_stack_plan_def {
	char *name;
	char *tag_prefix;	  /* may be NULL */
	char *tag_stable_postfix; /* may be NULL */
};

struct hoist_stack_spec {
	char *path; /* the spec file */
	char *dir;  /* its folder: images are dir/<name> */
	struct hoist_stack_image *images;
	size_t n_images;
	size_t *order; /* indexes of images, parents before children */
	struct hoist_stack_info_cmd *info_cmds;
	size_t n_info_cmds;
	struct hoist_stack_plan_def *plans;
	size_t n_plans;
	char *tag_prefix; /* tag.prefix, may be NULL */
	/* change_ignore.json next to the spec (empty when it is absent) */
	struct hoist_strv build_all;
	struct hoist_strv change_ignore;
};

/*
 * Parse a spec document (libyaml; bounded by HOIST_STACK_MAX_SPEC bytes,
 * HOIST_STACK_MAX_IMAGES images, HOIST_STACK_MAX_DEPTH nesting). Unknown keys
 * are ignored, as the datahub scripts do. Checks that every depend_on names
 * an image and that there is no cycle, and fills `order`. `file` names the
 * document in errors (line and column set). *ret is zeroed first; release
 * it with hoist_stack_spec_release() (also after a failure).
 */
int hoist_stack_spec_parse(const char *data, size_t len, const char *file,
			   struct hoist_stack_spec *ret, struct hoist_error *err);

/* Parse change_ignore.json ({"BuildAll": [...], "ChangeIgnore": [...]}) into spec. */
int hoist_stack_change_ignore_parse(const char *data, size_t len, const char *file,
				    struct hoist_stack_spec *spec, struct hoist_error *err);

/* Read and parse the spec file `path` and the change_ignore.json beside it. */
int hoist_stack_spec_load(const char *path, struct hoist_stack_spec *ret, struct hoist_error *err);
void hoist_stack_spec_release(struct hoist_stack_spec *spec);

/* Index of the image called `name`, or -1. */
int hoist_stack_find(const struct hoist_stack_spec *spec, const char *name);

/* ---- planning ------------------------------------------------------- */

enum hoist_stack_reason {
	HOIST_STACK_SKIP = 0,  /* nothing it depends on changed */
	HOIST_STACK_CHANGED,   /* a file in its folder changed */
	HOIST_STACK_PARENT,    /* an ancestor is rebuilt */
	HOIST_STACK_BUILD_ALL, /* a BuildAll path changed */
	HOIST_STACK_FORCED,    /* --all, or no --since given */
	HOIST_STACK_ONLY_SKIP, /* outside --only */
};
/* "changed", "parent changed", ... for messages. */
const char *hoist_stack_reason_name(enum hoist_stack_reason r);

struct hoist_stack_plan {
	enum hoist_stack_reason *reasons; /* one per image */
	char **why;			  /* the path (or parent name) behind it, or NULL */
	size_t n;
	struct hoist_strv changed; /* changed paths considered (after ChangeIgnore) */
	struct hoist_strv ignored; /* changed paths dropped by ChangeIgnore */
};
void hoist_stack_plan_release(struct hoist_stack_plan *p);

/*
 * Does the spec-relative or repository-relative `path` match `pattern` (an
 * entry of BuildAll or ChangeIgnore)? The pattern's '/'-separated components
 * (each an fnmatch(3) pattern) must match consecutive components of the
 * path, anywhere in it: "spec.yml" matches "images/spec.yml", "tests_common"
 * matches "images/x/tests_common/a.py".
 */
bool hoist_stack_path_match(const char *pattern, const char *path);

/*
 * The paths `git diff --name-only REF` (plus untracked files) lists in the
 * work tree holding `dir`, relative to that folder ("base/Dockerfile",
 * "../tests_common/x"). Runs git through fork/exec.
 */
int hoist_stack_git_changed(const char *dir, const char *since, struct hoist_strv *ret,
			    struct hoist_error *err);
/* The checked-out branch of the work tree holding dir (the short commit id when detached). */
int hoist_stack_git_branch(const char *dir, char **ret, struct hoist_error *err);

/*
 * Decide what to build. `changed` (paths relative to the spec's folder, as
 * hoist_stack_git_changed() gives them) NULL means everything (FORCED).
 * `only` (NULL-terminated names, may be NULL) limits the result to exactly
 * those images: the others become ONLY_SKIP, and a named image nothing
 * selected is FORCED. Fills *ret (release with hoist_stack_plan_release()).
 */
int hoist_stack_plan(const struct hoist_stack_spec *spec, const struct hoist_strv *changed,
		     const char *const *only, struct hoist_stack_plan *ret,
		     struct hoist_error *err);

/* ---- building -------------------------------------------------------- */

enum hoist_stack_event_kind {
	HOIST_STACK_EV_BUILD,	   /* an image starts building */
	HOIST_STACK_EV_BUILT,	   /* it built (digest) */
	HOIST_STACK_EV_UPTODATE,   /* its tag already holds this input hash (where) */
	HOIST_STACK_EV_PUSHED,	   /* pushed (digest) */
	HOIST_STACK_EV_NOTBUILT,   /* not in the plan: its tag is used as it is */
	HOIST_STACK_EV_FAILED,	   /* its job failed (message: the error; log) */
	HOIST_STACK_EV_NOTSTARTED, /* planned, never started (message: why) */
};

struct hoist_stack_event {
	enum hoist_stack_event_kind kind;
	const struct hoist_stack_image *image;
	const char *ref;    /* "[registry/]image_name:tag" */
	const char *digest; /* manifest digest, or NULL */
	const char *where;  /* UPTODATE: "registry" or "store"; BUILD: the plan's reason */
	const char *input_hash;
	const char *message; /* FAILED: the error as hoist_error_format() gives it;
				NOTSTARTED: "parent 'x' failed", ...; else NULL */
	const char *log;     /* FAILED: the image's log file (may be NULL) */
};
typedef void (*hoist_stack_event_fn)(const struct hoist_stack_event *ev, void *userdata);
/* A build engine event of one image's build. */
typedef void (*hoist_stack_build_event_fn)(const struct hoist_stack_image *img,
					   const struct hoist_build_event *ev, void *userdata);

struct hoist_stack_opts {
	const char
	    *registry_prefix;  /* "127.0.0.1:5000": put before every image_name; may be NULL */
	const char *tag;       /* the tag to build; NULL: "<prefix>-<git branch>" */
	const char *plan_name; /* a `plans:` entry whose tag_prefix replaces tag.prefix */
	bool push;
	bool no_cache;
	const struct hoist_registry_opts *registry; /* registry checks, pulls, push; may be
						       NULL: no registry at all */
	const struct hoist_platform *platform;	    /* NULL: the host */
	const char *network;
	const char *identity;
	const char *isolation; /* as hoist_build_opts.isolation */
	int output_fd;	       /* info/test: command output also goes here (> 0) */
	/* build: worker processes at once (0: the online CPUs; 1: one image at
	 * a time, parents first, as the plan lists them) */
	unsigned jobs;
	/* build: after a failure, go on with the images that do not depend on
	 * the failed one (default: start nothing new, let running jobs finish) */
	bool keep_going;
	/* build: folder of the per-image logs <name>.log (created; each run
	 * overwrites them). NULL: ROOT/logs/stack */
	const char *log_dir;
	hoist_stack_build_event_fn on_build_event;
	hoist_stack_event_fn on_event;
	void *userdata;
};
void hoist_stack_opts_init(struct hoist_stack_opts *o);

/*
 * The tag the stack uses: opts->tag, else "<prefix>-<branch>" with the
 * prefix of opts->plan_name or tag.prefix (none: just the branch), '/' and
 * other characters a tag cannot hold replaced by '-'. New string in *ret.
 */
int hoist_stack_tag(const struct hoist_stack_spec *spec, const struct hoist_stack_opts *opts,
		    char **ret, struct hoist_error *err);

/* "[registry_prefix/]image_name:tag". New string. */
char *hoist_stack_ref(const struct hoist_stack_image *img, const struct hoist_stack_opts *opts,
		      const char *tag);

/*
 * The input hash of every image (hashes[i], "sha256:..."): sha256 over the
 * parent's input hash, the platform, the image's build args and every file
 * of its folder (path, type, executable bit, content). *ret_hashes is a new
 * array of n_images strings (hoist_strv_free()).
 */
int hoist_stack_input_hashes(const struct hoist_stack_spec *spec,
			     const struct hoist_platform *platform, char ***ret_hashes,
			     struct hoist_error *err);

/*
 * Build the images the plan selects, each parent before its children, in
 * up to opts->jobs worker processes at once (not threads: RUN clones user
 * namespaces, which needs a single-threaded process, and a store handle is
 * per process). This process schedules: an image's job starts as soon as
 * its parent's job is done; each job runs in a forked worker that opens its
 * own store handle, calls the build library (never the CLI) and sends its
 * events and result (digest, status, error) back through a pipe; events are
 * passed to opts->on_event / on_build_event here, in this process, each
 * naming its image. Each job also writes everything it does (steps, RUN
 * output, the error) to <log_dir>/<name>.log.
 *
 * A job: unless opts->no_cache, if its ref already holds a manifest whose
 * config has the same input-hash label (in the registry when opts->push,
 * else the store), it is left alone; else it is built from
 * dir/<name>/Dockerfile with context dir/<name>, build args
 * BASE_IMAGE=<parent ref>@<digest> plus its build_args, labels
 * org.hoist.input-hash and org.hoist.stack.image, tagged <ref> and
 * <registry_prefix/>image_name (latest, so that `FROM image_name` in a
 * child finds it), and pushed with opts->push. A parent outside the plan
 * is taken from its ref (the store, else pulled).
 *
 * After the first failure no new job starts (unless opts->keep_going: then
 * only the failed images' descendants are left out); running jobs finish.
 * Every planned image that never started gets a NOTSTARTED event. On
 * failure err holds the first failure (with a count of the others) and its
 * code is returned. ret_built (may be NULL) counts the images built, also
 * on failure.
 */
int hoist_stack_build(struct hoist_store *s, const struct hoist_stack_spec *spec,
		      const struct hoist_stack_plan *plan, const struct hoist_stack_opts *opts,
		      size_t *ret_built, struct hoist_error *err);

/* ---- running commands in built images -------------------------------- */

/*
 * Run argv in the image `name` (a store name or digest) as `hoist run`
 * does (the image's Env, WorkingDir and User; PATH and HOME defaults), with
 * read-only bind mounts "HOST:CONTAINER" from `binds` (may be NULL),
 * stdout/stderr to the given fds (-1: inherit). The exit status goes to
 * *ret_status. The process must be single-threaded (hoist/sandbox.h).
 */
int hoist_stack_exec(struct hoist_store *s, const char *name, const char *const *argv,
		     const char *const *binds, int stdout_fd, int stderr_fd, int *ret_status,
		     struct hoist_error *err);

/*
 * Run each image's info_cmds (all_info_cmds[key].command, with sh -c) in
 * its ref and append a Markdown report to md: a section per image, a
 * subsection per command with its output in a fenced block (bounded to
 * 1 MiB per command). `only` (may be NULL) limits the images. Images not
 * in the store are pulled when opts->registry is set.
 */
int hoist_stack_info(struct hoist_store *s, const struct hoist_stack_spec *spec,
		     const struct hoist_stack_opts *opts, const char *const *only,
		     struct hoist_buf *md, struct hoist_error *err);

/*
 * Run the files of each image's test/ folder (dir/<name>/test/, sorted;
 * "*.sh" with /bin/sh, others executed) inside the image, the folder bound
 * read-only at /hoist-test. One line per test is appended to report
 * ("ok IMAGE FILE" / "not ok IMAGE FILE (status N)"). Returns 0 when all
 * pass, -EBADMSG (with a count in err) when any fails.
 */
int hoist_stack_test(struct hoist_store *s, const struct hoist_stack_spec *spec,
		     const struct hoist_stack_opts *opts, const char *const *only,
		     struct hoist_buf *report, struct hoist_error *err);

/*
 * Retag in the registry, without pulling a layer: each image's "<tag>"
 * manifest is fetched (its bytes) and PUT under "stable" and, for every plan
 * with a tag_stable_postfix, "<plan tag_prefix><postfix>" (or
 * "<tag>"+postfix without a plan prefix). Needs opts->registry. One line per
 * new tag is appended to report.
 */
int hoist_stack_tag_stable(const struct hoist_stack_spec *spec, const struct hoist_stack_opts *opts,
			   const char *const *only, struct hoist_buf *report,
			   struct hoist_error *err);
