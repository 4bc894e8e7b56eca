/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist stack build's scheduler. Each image's job runs in a forked worker
 * process, not a thread: RUN clones user namespaces, which the kernel only
 * allows a single-threaded process, and the sandbox must not clone beside
 * other threads anyway (src/sandbox/run.c). The parent only schedules: it
 * forks a worker as soon as an image's parent is done (at most opts->jobs
 * at once), reads the worker's events and result from a pipe, and passes
 * the events on to the caller's callbacks, so that only this process ever
 * calls them. The fork, the pipe's framing and the poll loop are
 * hoist/worker.h's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/stack.h"
#include "hoist/worker.h"
#include "stack-private.h"

#define MAX_JOBS 64

enum msg_type {
	MSG_STACK = 'S',  /* a stack event */
	MSG_BUILD = 'B',  /* a build engine event */
	MSG_LOG = 'L',	  /* a hoist_log() line */
	MSG_RESULT = 'R', /* the job's outcome; the last message */
};

/* ---- the worker ------------------------------------------------------- */

struct worker_ctx {
	int fd;	    /* the pipe to the parent */
	int log_fd; /* the image's log, or -1 */
	const struct hoist_stack_image *img;
};

static void log_line(const struct worker_ctx *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_line(const struct worker_ctx *w, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	if (w->log_fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 2;
	line[len++] = '\n';
	(void)hoist_write_all(w->log_fd, line, len);
}

static void fwd_stack(const struct hoist_stack_event *ev, void *userdata)
{
	const struct worker_ctx *w = userdata;
	static const char *const what[] = {
	    [HOIST_STACK_EV_BUILD] = "build",		[HOIST_STACK_EV_BUILT] = "built",
	    [HOIST_STACK_EV_UPTODATE] = "up to date",	[HOIST_STACK_EV_PUSHED] = "pushed",
	    [HOIST_STACK_EV_NOTBUILT] = "skip",		[HOIST_STACK_EV_FAILED] = "failed",
	    [HOIST_STACK_EV_NOTSTARTED] = "not started"};
	log_line(w, "[stack] %s %s%s%s%s%s", what[ev->kind], ev->ref, ev->digest ? " " : "",
		 ev->digest ? ev->digest : "", ev->where ? " " : "", ev->where ? ev->where : "");
	struct hoist_worker_msg m = {.type = MSG_STACK,
				     .n_ints = 1,
				     .ints = {ev->kind},
				     .n_strs = 4,
				     .strs = {ev->ref, ev->digest, ev->where, ev->input_hash}};
	hoist_worker_send(w->fd, &m);
}

static void fwd_build(const struct hoist_build_event *ev, void *userdata)
{
	const struct worker_ctx *w = userdata;
	switch (ev->kind) {
	case HOIST_BUILD_EVENT_STEP:
		log_line(w, "[%d/%d] %s%s (%.1fs)", ev->step + 1, ev->n_steps,
			 ev->cached ? "CACHED " : "", ev->text ? ev->text : "", ev->seconds);
		break;
	case HOIST_BUILD_EVENT_WARNING:
		log_line(w, "warning: %s", ev->text ? ev->text : "");
		break;
	case HOIST_BUILD_EVENT_LOG:
		log_line(w, "%s", ev->text ? ev->text : "");
		break;
	case HOIST_BUILD_EVENT_DONE:
		log_line(w, "done %s", ev->text ? ev->text : "");
		break;
	case HOIST_BUILD_EVENT_OUTPUT:
		break; /* the RUN output is in the log already (output_fd) */
	}
	struct hoist_worker_msg m = {.type = MSG_BUILD};
	hoist_build_event_pack(ev, &m);
	hoist_worker_send(w->fd, &m);
}

static struct worker_ctx *log_ctx; /* the worker's, for its hoist_log hook */

static void fwd_log(int level, const char *text, void *userdata)
{
	(void)userdata;
	if (!log_ctx)
		return;
	log_line(log_ctx, "%s", text);
	struct hoist_worker_msg m = {
	    .type = MSG_LOG, .n_ints = 1, .ints = {level}, .n_strs = 1, .strs = {text}};
	hoist_worker_send(log_ctx->fd, &m);
}

/* Everything a worker needs from the parent (the worker has a copy). */
struct sched {
	struct hoist_store *s;
	const struct hoist_stack_spec *spec;
	const struct hoist_stack_plan *plan;
	const struct hoist_stack_opts *o;
	const char *tag;
	char **hashes;
	char (*digests)[HOIST_DIGEST_MAX];
	char *log_dir;
	struct hoist_worker *procs; /* jobs of them */
	struct worker *workers;	    /* what each slot's process is doing */
	size_t jobs;
};

/* A slot's job, beside its process (sc->procs[k]). */
struct worker {
	size_t image;
	bool got_result;
	int rc;
	char digest[HOIST_DIGEST_MAX];
	struct hoist_error err;
};

/* What hoist_worker_start() hands the worker (a copy of the parent's memory). */
struct job {
	const struct sched *sc;
	size_t i;
	const char *log_path;
};

/* The worker: one image's job; hoist_worker_start() then leaves with _exit. */
static void worker_main(int fd, int out_fd, void *userdata)
{
	const struct job *jb = userdata;
	const struct sched *sc = jb->sc;
	size_t i = jb->i;
	const char *log_path = jb->log_path;
	const struct hoist_stack_image *img = &sc->spec->images[i];
	struct worker_ctx w = {.fd = fd, .log_fd = -1, .img = img};
	struct hoist_error err = {0};
	struct hoist_store *ws = NULL;
	char digest[HOIST_DIGEST_MAX] = "";
	int rc;

	(void)out_fd; /* none asked for: RUN output goes to the image's log */
	log_ctx = &w;
	hoist_log_set(fwd_log, NULL);
	w.log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (w.log_fd < 0) {
		rc = hoist_error_set(&err, -errno, "cannot create the log '%s': %s", log_path,
				     strerror(errno));
		goto out;
	}
	/* Our own handle: flock locks belong to the open file, so sharing the
	 * parent's would let two workers "hold" the store lock together. */
	rc = hoist_store_open(hoist_store_root(sc->s), &ws, &err);
	if (rc < 0)
		goto out;
	/*
	 * Shared for the whole job. Without it, tagging the parent's names
	 * takes the store lock exclusively and so waits for every other
	 * worker's build (each holds it shared throughout): the jobs would
	 * run one after the other. Under a shared lock tag writes serialize
	 * on ROOT/tags.lock instead (store.h).
	 */
	rc = hoist_store_lock(ws, false, &err);
	if (rc < 0)
		goto out;
	struct hoist_stack_opts wo = *sc->o;
	wo.on_event = fwd_stack;
	wo.userdata = &w;
	struct stack_job j = {.s = ws,
			      .spec = sc->spec,
			      .o = &wo,
			      .i = i,
			      .reason = sc->plan->reasons[i],
			      .tag = sc->tag,
			      .hashes = sc->hashes,
			      .digests = sc->digests,
			      .log_fd = w.log_fd,
			      .on_build = fwd_build,
			      .build_userdata = &w};
	rc = stack_job_run(&j, digest, &err);
out:
	if (rc < 0) {
		char text[HOIST_ERROR_MSG_MAX + HOIST_ERROR_FILE_MAX + 32];
		hoist_error_format(&err, text, sizeof(text));
		log_line(&w, "error: %s", text);
	}
	struct hoist_worker_msg m = {.type = MSG_RESULT};
	hoist_worker_msg_put_error(&m, rc, &err);
	m.n_strs = 3;
	m.strs[2] = digest;
	hoist_worker_send(fd, &m);
}

/* ---- the parent ------------------------------------------------------- */

enum img_state {
	ST_SKIP,    /* not in the plan */
	ST_WAIT,    /* planned, not started */
	ST_RUNNING, /* its worker runs */
	ST_OK,	    /* built or up to date */
	ST_FAILED,
	ST_NOTSTARTED,
};

static int mkdir_p(const char *path)
{
	_cleanup_free_ char *p = hoist_xstrdup(path);
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*c = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static char *log_path(const struct sched *sc, size_t i)
{
	/* Image names are folder names: no '/', not "." or ".." (spec.c). */
	return hoist_xasprintf("%s/%s.log", sc->log_dir, sc->spec->images[i].name);
}

static void emit_ev(const struct sched *sc, size_t i, enum hoist_stack_event_kind kind,
		    const char *message, const char *log)
{
	if (!sc->o->on_event)
		return;
	_cleanup_free_ char *ref = hoist_stack_ref(&sc->spec->images[i], sc->o, sc->tag);
	struct hoist_stack_event ev = {.kind = kind,
				       .image = &sc->spec->images[i],
				       .ref = ref,
				       .input_hash = sc->hashes[i],
				       .message = message,
				       .log = log};
	sc->o->on_event(&ev, sc->o->userdata);
}

static int start_worker(struct sched *sc, size_t k, size_t i, struct hoist_error *err)
{
	_cleanup_free_ char *lp = log_path(sc, i);
	struct job jb = {.sc = sc, .i = i, .log_path = lp};
	struct worker *w = &sc->workers[k];

	int r = hoist_worker_start(sc->procs, sc->jobs, k, false, worker_main, &jb, err);
	if (r < 0)
		return r;
	memset(w, 0, sizeof(*w));
	w->image = i;
	return 0;
}

/* Pass one message of the worker in slot k on. */
static void dispatch(size_t k, const struct hoist_worker_msg *m, void *userdata)
{
	struct sched *sc = userdata;
	struct worker *w = &sc->workers[k];
	const struct hoist_stack_opts *o = sc->o;
	const struct hoist_stack_image *img = &sc->spec->images[w->image];

	switch (m->type) {
	case MSG_STACK:
		if (m->n_ints >= 1 && m->n_strs >= 4 && o->on_event && m->ints[0] >= 0 &&
		    m->ints[0] <= HOIST_STACK_EV_NOTBUILT) {
			struct hoist_stack_event ev = {
			    .kind = (enum hoist_stack_event_kind)m->ints[0],
			    .image = img,
			    .ref = m->strs[0],
			    .digest = m->strs[1],
			    .where = m->strs[2],
			    .input_hash = m->strs[3],
			};
			o->on_event(&ev, o->userdata);
		}
		break;
	case MSG_BUILD: {
		struct hoist_build_event ev;
		if (o->on_build_event && hoist_build_event_unpack(m, &ev) == 0)
			o->on_build_event(img, &ev, o->userdata);
		break;
	}
	case MSG_LOG:
		if (m->n_ints >= 1 && m->n_strs >= 1 && m->strs[0])
			hoist_log((int)m->ints[0], "%s: %s", img->name, m->strs[0]);
		break;
	case MSG_RESULT:
		if (m->n_ints >= 5 && m->n_strs >= 3) {
			w->got_result = true;
			w->rc = hoist_worker_msg_get_error(m, &w->err);
			snprintf(w->digest, sizeof(w->digest), "%s", m->strs[2] ? m->strs[2] : "");
		}
		break;
	}
}

/* Reap the worker in slot k; fill in a failure when it sent no result. */
static void worker_finish(struct sched *sc, size_t k, bool junk)
{
	struct worker *w = &sc->workers[k];
	const char *name = sc->spec->images[w->image].name;
	int status = hoist_worker_reap(&sc->procs[k], junk);

	if (junk) {
		w->rc = hoist_error_set(&w->err, -EPROTO,
					"image '%s': its worker sent a malformed message", name);
	} else if (!w->got_result) {
		w->rc = hoist_worker_lost(status, &w->err);
		hoist_error_prefix(&w->err, "image '%s'", name);
	}
}

/* Why planned image i cannot start (its parent failed or was not built), or NULL. */
static char *blocked_by(const struct sched *sc, const enum img_state *st, size_t i)
{
	size_t p = sc->spec->images[i].parent;
	if (p == SIZE_MAX)
		return NULL;
	if (st[p] == ST_FAILED)
		return hoist_xasprintf("parent '%s' failed", sc->spec->images[p].name);
	if (st[p] == ST_NOTSTARTED)
		return hoist_xasprintf("parent '%s' was not built", sc->spec->images[p].name);
	return NULL;
}

static bool ready(const struct sched *sc, const enum img_state *st, size_t i)
{
	size_t p = sc->spec->images[i].parent;
	return st[i] == ST_WAIT && (p == SIZE_MAX || st[p] == ST_OK || st[p] == ST_SKIP);
}

int hoist_stack_build(struct hoist_store *s, const struct hoist_stack_spec *spec,
		      const struct hoist_stack_plan *plan, const struct hoist_stack_opts *o,
		      size_t *ret_built, struct hoist_error *err)
{
	size_t n = spec->n_images, built = 0, failed = 0, running = 0;
	_cleanup_free_ char *tag = NULL;
	_cleanup_free_ enum img_state *st = hoist_xcalloc(n ? n : 1, sizeof(*st));
	struct hoist_error first = {0};
	struct sched sc = {.s = s, .spec = spec, .plan = plan, .o = o};
	int r;

	if (o->push && !o->registry) {
		r = hoist_error_set(err, -EINVAL, "push needs registry options");
		goto out;
	}
	if ((r = hoist_stack_tag(spec, o, &tag, err)) < 0 ||
	    (r = hoist_stack_input_hashes(spec, o->platform, &sc.hashes, err)) < 0)
		goto out;
	sc.tag = tag;
	sc.digests = hoist_xcalloc(n ? n : 1, HOIST_DIGEST_MAX);
	sc.log_dir = o->log_dir ? hoist_xstrdup(o->log_dir)
				: hoist_store_area_path(s, HOIST_STORE_LOGS, "stack");
	if ((r = mkdir_p(sc.log_dir)) < 0) {
		hoist_error_set(err, r, "cannot create the log folder '%s': %s", sc.log_dir,
				strerror(-r));
		goto out;
	}
	sc.jobs = o->jobs ? o->jobs : hoist_worker_default_jobs();
	if (sc.jobs > MAX_JOBS)
		sc.jobs = MAX_JOBS;
	sc.workers = hoist_xcalloc(sc.jobs, sizeof(*sc.workers));
	sc.procs = hoist_xcalloc(sc.jobs, sizeof(*sc.procs));

	for (size_t k = 0; k < n; k++) {
		size_t i = spec->order[k];
		enum hoist_stack_reason why = plan->reasons[i];
		st[i] = why == HOIST_STACK_SKIP || why == HOIST_STACK_ONLY_SKIP ? ST_SKIP : ST_WAIT;
		if (st[i] == ST_SKIP && o->on_event) {
			_cleanup_free_ char *ref = hoist_stack_ref(&spec->images[i], o, tag);
			struct hoist_stack_event ev = {.kind = HOIST_STACK_EV_NOTBUILT,
						       .image = &spec->images[i],
						       .ref = ref,
						       .input_hash = sc.hashes[i]};
			o->on_event(&ev, o->userdata);
		}
	}

	for (;;) {
		/* Start what is ready, in plan order: with one job that is
		 * exactly the parents-first order of a sequential build. */
		for (size_t k = 0; k < n && running < sc.jobs; k++) {
			size_t i = spec->order[k];
			_cleanup_free_ char *why = st[i] == ST_WAIT ? blocked_by(&sc, st, i) : NULL;
			if (why) {
				st[i] = ST_NOTSTARTED;
				emit_ev(&sc, i, HOIST_STACK_EV_NOTSTARTED, why, NULL);
				continue;
			}
			if ((failed && !o->keep_going) || !ready(&sc, st, i))
				continue;
			size_t slot = 0;
			while (sc.procs[slot].pid > 0)
				slot++;
			struct hoist_error e = {0};
			if (start_worker(&sc, slot, i, &e) < 0) {
				/* Nothing ran: the image failed, its log is empty. */
				hoist_error_prefix(&e, "image '%s'", spec->images[i].name);
				char text[HOIST_ERROR_MSG_MAX + HOIST_ERROR_FILE_MAX + 32];
				hoist_error_format(&e, text, sizeof(text));
				st[i] = ST_FAILED;
				if (!failed++)
					first = e;
				emit_ev(&sc, i, HOIST_STACK_EV_FAILED, text, NULL);
				continue;
			}
			st[i] = ST_RUNNING;
			running++;
		}
		if (!running)
			break;

		struct hoist_worker_handler h = {.on_msg = dispatch, .userdata = &sc};
		bool junk = false;
		int k = hoist_worker_wait_any(sc.procs, sc.jobs, &h, &junk);
		if (k < 0)
			break; /* none runs: cannot happen while running > 0 */
		struct worker *w = &sc.workers[k];
		size_t i = w->image;
		worker_finish(&sc, (size_t)k, junk);
		running--;
		if (w->rc >= 0) {
			st[i] = ST_OK;
			snprintf(sc.digests[i], HOIST_DIGEST_MAX, "%s", w->digest);
			if (w->rc == STACK_JOB_BUILT)
				built++;
			continue;
		}
		char text[HOIST_ERROR_MSG_MAX + HOIST_ERROR_FILE_MAX + 32];
		_cleanup_free_ char *lp = log_path(&sc, i);
		hoist_error_format(&w->err, text, sizeof(text));
		st[i] = ST_FAILED;
		if (!failed++)
			first = w->err;
		emit_ev(&sc, i, HOIST_STACK_EV_FAILED, text, lp);
	}

	/* What is still waiting never started: say why. */
	for (size_t k = 0; k < n; k++) {
		size_t i = spec->order[k];
		if (st[i] != ST_WAIT)
			continue;
		_cleanup_free_ char *why = blocked_by(&sc, st, i);
		st[i] = ST_NOTSTARTED;
		emit_ev(&sc, i, HOIST_STACK_EV_NOTSTARTED,
			why ? why : "not started after an earlier failure", NULL);
	}
	r = 0;
	if (failed) {
		if (err) {
			*err = first;
			size_t l = strlen(err->msg);
			if (failed > 1)
				snprintf(err->msg + l, sizeof(err->msg) - l,
					 " (and %zu more image%s failed)", failed - 1,
					 failed == 2 ? "" : "s");
		}
		r = first.code < 0 ? first.code : -EIO;
	}
	if (ret_built)
		*ret_built = built;
out:
	hoist_strv_free(sc.hashes);
	free(sc.digests);
	free(sc.log_dir);
	free(sc.workers);
	free(sc.procs);
	return r;
}
