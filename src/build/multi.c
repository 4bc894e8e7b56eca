/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Multi-platform builds: one hoist_build_run() per target platform, then an
 * index over the images, tagged like a single build's image.
 *
 * With one job the platforms are built one after the other in this process.
 * With more, each platform's build runs in a forked worker (hoist/worker.h),
 * not a thread: a RUN clones a sandbox, and no clone may happen while
 * another build's registry pull (libcurl and its resolver threads) runs in
 * the same process; the kernel refuses CLONE_NEWUSER to a multi-threaded
 * one anyway. A worker has its own store handle (flock locks belong to the
 * open file: sharing ours would let the workers "hold" ROOT/tags.lock
 * together) and its own sandbox state (the subuid user namespace fd, the
 * private binfmt_misc mount of each run). It sends its events and finally
 * its result over its pipe; this process relays the events to the caller
 * and makes the index exactly as the sequential path does.
 *
 * The store lock is taken shared once around all of it, so the images of
 * the first platforms (committed, but referenced by no tag until the index
 * is tagged) survive a `hoist cache prune` started meanwhile.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "build-private.h"
#include "hoist/ref.h"
#include "hoist/sandbox.h"
#include "hoist/worker.h"

struct relay {
	hoist_build_event_fn fn;
	void *userdata;
	const char *plat; /* "linux/arm64" */
	struct hoist_strv *warned;
};

/*
 * Pass a platform's event on with the platform in front of the stage name,
 * as buildx prints "[linux/arm64 build 2/3]"; each warning text only once.
 * The per-image DONE events are kept back: the index is what is done.
 */
static void relay_event(const struct hoist_build_event *ev, void *userdata)
{
	struct relay *r = userdata;
	struct hoist_build_event e = *ev;
	char stage[256];

	if (ev->kind == HOIST_BUILD_EVENT_DONE)
		return;
	if (ev->kind == HOIST_BUILD_EVENT_WARNING) {
		for (size_t i = 0; i < r->warned->n; i++)
			if (strcmp(r->warned->v[i], ev->text ? ev->text : "") == 0)
				return;
		hoist_strv_push(r->warned, ev->text ? ev->text : "");
	}
	if (ev->stage && *ev->stage)
		snprintf(stage, sizeof(stage), "%s %s", r->plat, ev->stage);
	else /* a sandbox line */
		snprintf(stage, sizeof(stage), "%s", r->plat);
	e.stage = stage;
	r->fn(&e, r->userdata);
}

void hoist_build_event_pack(const struct hoist_build_event *ev, struct hoist_worker_msg *m)
{
	m->n_ints = 6;
	m->ints[0] = ev->kind;
	m->ints[1] = ev->stage_index;
	m->ints[2] = ev->step;
	m->ints[3] = ev->n_steps;
	m->ints[4] = ev->cached;
	m->ints[5] = (int64_t)(ev->seconds * 1e6);
	m->n_strs = 2;
	m->strs[0] = ev->stage;
	m->strs[1] = ev->text;
}

int hoist_build_event_unpack(const struct hoist_worker_msg *m, struct hoist_build_event *ev)
{
	if (m->n_ints < 6 || m->n_strs < 2 || m->ints[0] < 0 ||
	    m->ints[0] > HOIST_BUILD_EVENT_OUTPUT)
		return -EBADMSG;
	*ev = (struct hoist_build_event){
	    .kind = (enum hoist_build_event_kind)m->ints[0],
	    .stage_index = (int)m->ints[1],
	    .step = (int)m->ints[2],
	    .n_steps = (int)m->ints[3],
	    .cached = m->ints[4] != 0,
	    .seconds = (double)m->ints[5] / 1e6,
	    .stage = m->strs[0],
	    .text = m->strs[1],
	};
	return 0;
}

/* ---- one after the other, in this process ------------------------------ */

static int build_sequential(struct hoist_store *s, const struct hoist_build_opts *opts,
			    const struct hoist_platform *plats, size_t n, struct hoist_strv *warned,
			    struct hoist_build_result *res, struct hoist_error *err)
{
	for (size_t i = 0; i < n; i++) {
		struct hoist_build_opts o = *opts;
		char ps[96];
		hoist_platform_format(&plats[i], ps, sizeof(ps));
		struct relay r = {
		    .fn = opts->on_event, .userdata = opts->userdata, .plat = ps, .warned = warned};
		o.platform = &plats[i];
		o.tags = NULL;		 /* the index is tagged, not the parts */
		o.cache_to_defer = true; /* the caches too */
		if (opts->on_event) {
			o.on_event = relay_event;
			o.userdata = &r;
		}
		int rc = hoist_build_run(s, &o, &res[i], err);
		if (rc < 0)
			return hoist_error_prefix(err, "building for %s", ps);
	}
	return 0;
}

/* ---- at the same time, in forked workers ------------------------------- */

enum msg_type {
	MSG_EVENT = 'B',  /* a build event */
	MSG_LOG = 'L',	  /* a hoist_log() line */
	MSG_RESULT = 'R', /* the build's outcome; the last message */
};

#define LINE_MAX_BYTES ((size_t)64 << 10) /* a longer RUN output line is passed on in pieces */

struct multi {
	struct hoist_store *s;
	const struct hoist_build_opts *opts;
	const struct hoist_platform *plats;
	size_t n, jobs;
	char ps[HOIST_BUILD_MAX_PLATFORMS][96];
	struct hoist_strv *warned;
	/* per slot */
	struct hoist_worker ws[HOIST_BUILD_MAX_PLATFORMS];
	size_t plat_of[HOIST_BUILD_MAX_PLATFORMS];
	bool got_result[HOIST_BUILD_MAX_PLATFORMS];
	struct hoist_buf line[HOIST_BUILD_MAX_PLATFORMS]; /* RUN output not yet ended by '\n' */
	/* per platform */
	struct hoist_build_result *res;
	int rc[HOIST_BUILD_MAX_PLATFORMS];
	struct hoist_error errs[HOIST_BUILD_MAX_PLATFORMS];
};

/* What a worker is handed (its copy of the parent's memory holds the rest). */
struct job {
	const struct multi *m;
	size_t i; /* the platform */
};

static void fwd_event(const struct hoist_build_event *ev, void *userdata)
{
	const int *fd = userdata;
	struct hoist_worker_msg m = {.type = MSG_EVENT};
	hoist_build_event_pack(ev, &m);
	hoist_worker_send(*fd, &m);
}

static int log_fd = -1; /* the worker's pipe, for its hoist_log hook */

static void fwd_log(int level, const char *text, void *userdata)
{
	(void)userdata;
	struct hoist_worker_msg m = {
	    .type = MSG_LOG, .n_ints = 1, .ints = {level}, .n_strs = 1, .strs = {text}};
	if (log_fd >= 0)
		hoist_worker_send(log_fd, &m);
}

/* A worker: one platform's build, its events and result sent on fd. */
static void worker_main(int fd, int out_fd, void *userdata)
{
	const struct job *j = userdata;
	const struct multi *mu = j->m;
	struct hoist_build_result res = {0};
	struct hoist_error err = {0};
	struct hoist_store *ws = NULL;
	int rc;

	log_fd = fd;
	hoist_log_set(fwd_log, NULL);
	rc = hoist_store_open(hoist_store_root(mu->s), &ws, &err);
	if (rc >= 0)
		rc = hoist_store_lock(ws, false, &err);
	if (rc >= 0) {
		struct hoist_build_opts o = *mu->opts;
		o.platform = &mu->plats[j->i];
		o.tags = NULL;
		o.cache_to_defer = true; /* joined into an index by the parent */
		if (o.on_event) {
			o.on_event = fwd_event;
			o.userdata = &fd;
		}
		if (o.output_fd > 0)
			o.output_fd = out_fd;
		rc = hoist_build_run(ws, &o, &res, &err);
		hoist_store_unlock(ws);
	}
	hoist_store_free(ws);
	hoist_sandbox_cleanup();
	struct hoist_worker_msg m = {.type = MSG_RESULT};
	hoist_worker_msg_put_error(&m, rc, &err);
	m.n_ints = 8;
	m.ints[5] = res.manifest.size;
	m.ints[6] = res.steps;
	m.ints[7] = res.steps_cached;
	m.n_strs = 6;
	m.strs[2] = res.manifest.media_type;
	m.strs[3] = res.manifest.digest;
	m.strs[4] = res.config_digest;
	/* The cache manifests, one per --cache-to, comma-separated. */
	struct hoist_buf cm = HOIST_BUF_INIT;
	for (size_t c = 0; c < mu->opts->n_cache_to && c < HOIST_BUILD_MAX_CACHE_TO; c++)
		hoist_buf_addf(&cm, "%s%s", c ? "," : "", res.cache_manifests[c]);
	hoist_buf_adds(&cm, "");
	m.strs[5] = cm.data;
	hoist_worker_send(fd, &m);
	hoist_buf_release(&cm);
}

static void on_msg(size_t k, const struct hoist_worker_msg *msg, void *userdata)
{
	struct multi *mu = userdata;
	size_t i = mu->plat_of[k];

	switch (msg->type) {
	case MSG_EVENT: {
		struct hoist_build_event ev;
		struct relay r = {.fn = mu->opts->on_event,
				  .userdata = mu->opts->userdata,
				  .plat = mu->ps[i],
				  .warned = mu->warned};
		if (r.fn && hoist_build_event_unpack(msg, &ev) == 0)
			relay_event(&ev, &r);
		break;
	}
	case MSG_LOG:
		if (msg->n_ints >= 1 && msg->n_strs >= 1 && msg->strs[0])
			hoist_log((int)msg->ints[0], "%s: %s", mu->ps[i], msg->strs[0]);
		break;
	case MSG_RESULT: {
		struct hoist_build_result *res = &mu->res[i];
		mu->got_result[k] = true;
		if (msg->n_ints < 8 || msg->n_strs < 5) {
			mu->rc[i] = hoist_error_set(&mu->errs[i], -EPROTO,
						    "its worker sent a malformed result");
			break;
		}
		mu->rc[i] = hoist_worker_msg_get_error(msg, &mu->errs[i]);
		if (mu->rc[i] < 0)
			break;
		if (!msg->strs[3] || !hoist_digest_valid(msg->strs[3])) {
			mu->rc[i] = hoist_error_set(&mu->errs[i], -EPROTO,
						    "its worker sent a malformed result");
			break;
		}
		memset(res, 0, sizeof(*res));
		res->manifest.size = msg->ints[5];
		res->steps = (int)msg->ints[6];
		res->steps_cached = (int)msg->ints[7];
		snprintf(res->manifest.media_type, sizeof(res->manifest.media_type), "%s",
			 msg->strs[2] ? msg->strs[2] : "");
		snprintf(res->manifest.digest, sizeof(res->manifest.digest), "%s", msg->strs[3]);
		snprintf(res->config_digest, sizeof(res->config_digest), "%s",
			 msg->strs[4] ? msg->strs[4] : "");
		const char *cm = msg->n_strs >= 6 && msg->strs[5] ? msg->strs[5] : "";
		for (size_t c = 0; c < HOIST_BUILD_MAX_CACHE_TO && *cm; c++) {
			size_t len = strcspn(cm, ",");
			if (len < HOIST_DIGEST_MAX)
				snprintf(res->cache_manifests[c], HOIST_DIGEST_MAX, "%.*s",
					 (int)len, cm);
			cm += len + (cm[len] == ',');
		}
		break;
	}
	}
}

/* Write one line of slot k's RUN output with its platform in front. */
static void put_line(struct multi *mu, size_t k, const char *p, size_t len)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	hoist_buf_init(&b, LINE_MAX_BYTES + 128);
	(void)hoist_buf_addf(&b, "[%s] ", mu->ps[mu->plat_of[k]]);
	(void)hoist_buf_add(&b, p, len);
	(void)hoist_buf_addc(&b, '\n');
	/* One write per line, so that lines of two workers never mix. */
	(void)hoist_write_all(mu->opts->output_fd, b.data, b.len);
	hoist_buf_release(&b);
}

static void on_output(size_t k, const char *data, size_t len, void *userdata)
{
	struct multi *mu = userdata;
	struct hoist_buf *l = &mu->line[k];

	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		if (l->len + take > LINE_MAX_BYTES)
			take = LINE_MAX_BYTES - l->len;
		(void)hoist_buf_add(l, data, take);
		data += take;
		len -= take;
		if (nl && data == nl) {
			data++;
			len--;
		} else if (l->len < LINE_MAX_BYTES) {
			break; /* the rest of the line comes later */
		}
		put_line(mu, k, l->data ? l->data : "", l->len);
		hoist_buf_reset(l);
	}
}

/* Start platform i's worker in a free slot. */
static int start_one(struct multi *mu, size_t i, struct job *jobs, struct hoist_error *err)
{
	size_t k = 0;
	while (mu->ws[k].pid > 0)
		k++;
	jobs[k] = (struct job){.m = mu, .i = i};
	mu->plat_of[k] = i;
	mu->got_result[k] = false;
	hoist_buf_reset(&mu->line[k]);
	return hoist_worker_start(mu->ws, mu->jobs, k, mu->opts->output_fd > 0, worker_main,
				  &jobs[k], err);
}

static int build_workers(struct multi *mu, struct hoist_error *err)
{
	struct hoist_worker_handler h = {.on_msg = on_msg, .on_output = on_output, .userdata = mu};
	struct job jobs[HOIST_BUILD_MAX_PLATFORMS];
	size_t next = 0, running = 0, failed = 0, first = 0;

	for (size_t k = 0; k < mu->jobs; k++) {
		mu->ws[k] = (struct hoist_worker){.fd = -1, .out_fd = -1};
		hoist_buf_init(&mu->line[k], LINE_MAX_BYTES);
	}
	for (;;) {
		/* In the order given; after a failure nothing new starts. */
		while (running < mu->jobs && next < mu->n && !failed) {
			size_t i = next++;
			if ((mu->rc[i] = start_one(mu, i, jobs, &mu->errs[i])) < 0) {
				failed++;
				first = i;
				break;
			}
			running++;
		}
		if (!running)
			break;
		bool junk = false;
		int k = hoist_worker_wait_any(mu->ws, mu->jobs, &h, &junk);
		if (k < 0)
			break; /* none runs: cannot happen while running > 0 */
		size_t i = mu->plat_of[k];
		if (mu->line[k].len) { /* a last line without '\n' */
			put_line(mu, (size_t)k, mu->line[k].data, mu->line[k].len);
			hoist_buf_reset(&mu->line[k]);
		}
		int st = hoist_worker_reap(&mu->ws[k], junk);
		running--;
		if (junk)
			mu->rc[i] = hoist_error_set(&mu->errs[i], -EPROTO,
						    "its worker sent a malformed message");
		else if (!mu->got_result[k])
			mu->rc[i] = hoist_worker_lost(st, &mu->errs[i]);
		if (mu->rc[i] < 0 && !failed++)
			first = i;
	}
	for (size_t k = 0; k < mu->jobs; k++)
		hoist_buf_release(&mu->line[k]);
	if (!failed)
		return 0;
	if (err) {
		*err = mu->errs[first];
		if (err->code >= 0)
			err->code = mu->rc[first] < 0 ? mu->rc[first] : -EIO;
		hoist_error_prefix(err, "building for %s", mu->ps[first]);
		size_t l = strlen(err->msg);
		if (failed > 1)
			snprintf(err->msg + l, sizeof(err->msg) - l,
				 " (and %zu more platform%s failed)", failed - 1,
				 failed == 2 ? "" : "s");
	}
	return mu->rc[first] < 0 ? mu->rc[first] : -EIO;
}

/* Each registry or local --cache-to: the platforms' cache manifests as one index. */
static int cache_index_write(struct hoist_store *s, const struct hoist_build_opts *opts,
			     const struct hoist_platform *plats, size_t n,
			     const struct hoist_build_multi_result *res, struct hoist_error *err)
{
	for (size_t c = 0; c < opts->n_cache_to && c < HOIST_BUILD_MAX_CACHE_TO; c++) {
		const struct hoist_cache_spec *sp = &opts->cache_to[c];
		struct hoist_index_item items[HOIST_BUILD_MAX_PLATFORMS];
		struct hoist_descriptor idx;
		int rc = 0;
		if (sp->type == HOIST_CACHE_INLINE)
			continue;
		for (size_t i = 0; i < n && rc == 0; i++) {
			memset(&items[i], 0, sizeof(items[i]));
			if (!hoist_digest_valid(res->images[i].cache_manifests[c]))
				rc = hoist_error_set(err, -EPROTO,
						     "no cache manifest for a platform");
			snprintf(items[i].digest, sizeof(items[i].digest), "%s",
				 res->images[i].cache_manifests[c]);
			items[i].platform = &plats[i];
		}
		if (rc == 0)
			rc = hoist_index_create(s, items, n, HOIST_INDEX_OCI, NULL, &idx, err);
		if (rc == 0)
			rc = hoist_cache_write(s, opts->registry, sp, idx.digest, err);
		if (rc < 0 && sp->ignore_error) {
			if (opts->on_event) {
				char w[HOIST_ERROR_MSG_MAX + 64];
				snprintf(w, sizeof(w), "cache: exporting to '%s' failed: %s",
					 sp->ref, err->msg);
				struct hoist_build_event ev = {.kind = HOIST_BUILD_EVENT_WARNING,
							       .stage = "",
							       .stage_index = -1,
							       .text = w};
				opts->on_event(&ev, opts->userdata);
			}
			memset(err, 0, sizeof(*err));
			continue;
		}
		if (rc < 0)
			return hoist_error_prefix(err, "the images are built, but --cache-to '%s'",
						  sp->ref);
	}
	return 0;
}

int hoist_build_run_multi(struct hoist_store *s, const struct hoist_build_opts *opts,
			  const struct hoist_platform *plats, size_t n, enum hoist_index_format fmt,
			  unsigned jobs, struct hoist_build_multi_result *ret,
			  struct hoist_error *err)
{
	struct hoist_index_item items[HOIST_BUILD_MAX_PLATFORMS];
	_cleanup_strv_ struct hoist_strv warned = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	_cleanup_free_ struct hoist_build_multi_result *res_all = NULL; /* to *ret on success */
	int rc;

	if (n == 0 || n > HOIST_BUILD_MAX_PLATFORMS)
		return hoist_error_set(err, -EINVAL,
				       "between 1 and %d platforms can be built at once",
				       HOIST_BUILD_MAX_PLATFORMS);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (hoist_platform_equal(&plats[i], &plats[j])) {
				char ps[96];
				hoist_platform_format(&plats[i], ps, sizeof(ps));
				return hoist_error_set(err, -EINVAL, "platform '%s' given twice",
						       ps);
			}
	/* Check the tags before hours of building, as a single build would fail
	 * on them only at the end. */
	for (const char *const *t = opts->tags; t && *t; t++) {
		struct hoist_ref ref = {0};
		if ((rc = hoist_ref_parse(*t, &ref, err)) < 0)
			return hoist_error_prefix(err, "tag '%s'", *t);
		hoist_strv_take(&names, hoist_ref_string(&ref));
		hoist_ref_release(&ref);
	}
	if (jobs == 0)
		jobs = hoist_worker_default_jobs();
	if (jobs > n)
		jobs = (unsigned)n;

	res_all = hoist_xcalloc(1, sizeof(*res_all));
	if ((rc = hoist_store_lock(s, false, err)) < 0)
		return rc;
	if (jobs <= 1) {
		rc = build_sequential(s, opts, plats, n, &warned, res_all->images, err);
	} else {
		_cleanup_free_ struct multi *mu = hoist_xcalloc(1, sizeof(*mu));
		mu->s = s;
		mu->opts = opts;
		mu->plats = plats;
		mu->n = n;
		mu->jobs = jobs;
		mu->warned = &warned;
		mu->res = res_all->images;
		for (size_t i = 0; i < n; i++)
			hoist_platform_format(&plats[i], mu->ps[i], sizeof(mu->ps[i]));
		rc = build_workers(mu, err);
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		memset(&items[i], 0, sizeof(items[i]));
		snprintf(items[i].digest, sizeof(items[i].digest), "%s",
			 res_all->images[i].manifest.digest);
		/* The entry names the target even when the final stage ran
		 * elsewhere (FROM --platform=$BUILDPLATFORM), as buildx does. */
		items[i].platform = &plats[i];
		res_all->steps += res_all->images[i].steps;
		res_all->steps_cached += res_all->images[i].steps_cached;
	}
	rc = hoist_index_create(s, items, n, fmt, NULL, &res_all->index, err);
	if (rc < 0) {
		hoist_error_prefix(err, "making the image index");
		goto out;
	}
	for (size_t i = 0; i < names.n; i++)
		if ((rc = hoist_store_tag_set(s, names.v[i], res_all->index.digest, err)) < 0)
			goto out;
	if ((rc = cache_index_write(s, opts, plats, n, res_all, err)) < 0)
		goto out;
	if (opts->on_event) {
		struct hoist_build_event ev = {.kind = HOIST_BUILD_EVENT_DONE,
					       .stage = "",
					       .stage_index = -1,
					       .text = res_all->index.digest};
		opts->on_event(&ev, opts->userdata);
	}
	res_all->n = n;
	if (ret)
		*ret = *res_all;
	rc = 0;
out:
	hoist_store_unlock(s);
	return rc;
}

int hoist_build_platforms_parse(const char *list, struct hoist_platform *plats, size_t *ret_n,
				struct hoist_error *err)
{
	size_t n = 0;
	const char *p = list;

	for (;;) {
		size_t len = strcspn(p, ",");
		/* "linux/amd64, linux/arm64" as buildx takes it */
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0)
			return hoist_error_set(err, -EINVAL, "empty platform in '%s'", list);
		if (n == HOIST_BUILD_MAX_PLATFORMS)
			return hoist_error_set(err, -E2BIG, "more than %d platforms in '%s'",
					       HOIST_BUILD_MAX_PLATFORMS, list);
		_cleanup_free_ char *one = hoist_xstrndup(p, len);
		int rc = hoist_platform_parse_known(one, &plats[n], err);
		if (rc < 0)
			return rc;
		for (size_t j = 0; j < n; j++)
			if (hoist_platform_equal(&plats[j], &plats[n])) {
				char ps[96];
				hoist_platform_format(&plats[n], ps, sizeof(ps));
				return hoist_error_set(err, -EINVAL,
						       "platform '%s' (%s) given twice", one, ps);
			}
		n++;
		p += strcspn(p, ",");
		if (!*p)
			break;
		p++;
	}
	*ret_n = n;
	return 0;
}
