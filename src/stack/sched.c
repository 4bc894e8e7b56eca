/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist stack build's scheduler. Each image's job runs in a forked worker
 * process, not a thread: RUN clones user namespaces, which the kernel only
 * allows a single-threaded process, and the sandbox must not clone beside
 * other threads anyway (src/sandbox/run.c). The parent only schedules: it
 * forks a worker as soon as an image's parent is done (at most opts->jobs
 * at once), reads the worker's events and result from a pipe, and passes
 * the events on to the caller's callbacks, so that only this process ever
 * calls them.
 *
 * Wire format, worker -> parent (both sides are this binary, so native byte
 * order): a frame is a u32 length, then that many bytes: a type byte, a
 * count of int64 fields, a count of string fields, the ints, then each
 * string as a u32 length (UINT32_MAX: NULL) and its bytes. The parent
 * bounds every count and length; a malformed frame kills the worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/stack.h"
#include "stack-private.h"

#define MAX_JOBS 64
#define FRAME_MAX ((size_t)256 << 10) /* one message from a worker */
#define FIELD_MAX ((size_t)64 << 10)  /* one string in it; longer ones are cut */
#define MSG_INTS 8
#define MSG_STRS 8

enum msg_type {
	MSG_STACK = 'S',  /* a stack event */
	MSG_BUILD = 'B',  /* a build engine event */
	MSG_LOG = 'L',	  /* a hoist_log() line */
	MSG_RESULT = 'R', /* the job's outcome; the last message */
};

/* ---- messages ---------------------------------------------------------- */

struct msg {
	int type;
	size_t n_ints, n_strs;
	int64_t ints[MSG_INTS];
	const char *strs[MSG_STRS];
};

static void msg_send(int fd, const struct msg *m)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	uint32_t len = 0;
	uint8_t head[3] = {(uint8_t)m->type, (uint8_t)m->n_ints, (uint8_t)m->n_strs};

	hoist_buf_init(&b, FRAME_MAX + sizeof(len));
	(void)hoist_buf_add(&b, &len, sizeof(len));
	(void)hoist_buf_add(&b, head, sizeof(head));
	(void)hoist_buf_add(&b, m->ints, m->n_ints * sizeof(int64_t));
	for (size_t i = 0; i < m->n_strs; i++) {
		uint32_t n = m->strs[i] ? (uint32_t)strnlen(m->strs[i], FIELD_MAX) : UINT32_MAX;
		(void)hoist_buf_add(&b, &n, sizeof(n));
		if (m->strs[i])
			(void)hoist_buf_add(&b, m->strs[i], n);
	}
	len = (uint32_t)(b.len - sizeof(len));
	memcpy(b.data, &len, sizeof(len));
	/* A parent that is gone makes this fail (or SIGPIPE): nothing to do. */
	(void)hoist_write_all(fd, b.data, b.len);
	hoist_buf_release(&b);
}

/* Decode one frame's payload; the strings are copied (msg_release()). */
static int msg_decode(const char *p, size_t len, struct msg *m)
{
	memset(m, 0, sizeof(*m));
	if (len < 3)
		return -EBADMSG;
	m->type = (unsigned char)p[0];
	m->n_ints = (unsigned char)p[1];
	m->n_strs = (unsigned char)p[2];
	p += 3;
	len -= 3;
	if (m->n_ints > MSG_INTS || m->n_strs > MSG_STRS || len < m->n_ints * sizeof(int64_t))
		return -EBADMSG;
	memcpy(m->ints, p, m->n_ints * sizeof(int64_t));
	p += m->n_ints * sizeof(int64_t);
	len -= m->n_ints * sizeof(int64_t);
	for (size_t i = 0; i < m->n_strs; i++) {
		uint32_t n;
		if (len < sizeof(n))
			return -EBADMSG;
		memcpy(&n, p, sizeof(n));
		p += sizeof(n);
		len -= sizeof(n);
		if (n == UINT32_MAX)
			continue;
		if (n > FIELD_MAX || n > len)
			return -EBADMSG;
		m->strs[i] = hoist_xstrndup(p, n);
		p += n;
		len -= n;
	}
	return len == 0 ? 0 : -EBADMSG;
}

static void msg_release(struct msg *m)
{
	for (size_t i = 0; i < m->n_strs; i++)
		free((char *)m->strs[i]);
	memset(m, 0, sizeof(*m));
}

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
	struct msg m = {.type = MSG_STACK,
			.n_ints = 1,
			.ints = {ev->kind},
			.n_strs = 4,
			.strs = {ev->ref, ev->digest, ev->where, ev->input_hash}};
	msg_send(w->fd, &m);
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
	struct msg m = {.type = MSG_BUILD,
			.n_ints = 6,
			.ints = {ev->kind, ev->stage_index, ev->step, ev->n_steps, ev->cached,
				 (int64_t)(ev->seconds * 1e6)},
			.n_strs = 2,
			.strs = {ev->stage, ev->text}};
	msg_send(w->fd, &m);
}

static struct worker_ctx *log_ctx; /* the worker's, for its hoist_log hook */

static void fwd_log(int level, const char *text, void *userdata)
{
	(void)userdata;
	if (!log_ctx)
		return;
	log_line(log_ctx, "%s", text);
	struct msg m = {.type = MSG_LOG, .n_ints = 1, .ints = {level}, .n_strs = 1, .strs = {text}};
	msg_send(log_ctx->fd, &m);
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
	struct worker *workers; /* jobs of them */
	size_t jobs;
};

/* The worker: one image's job, then _exit (no atexit handlers or stdio
 * buffers of the parent run twice). Never returns. */
static void worker_main(const struct sched *sc, size_t i, int fd, const char *log_path)
    __attribute__((noreturn));

struct worker {
	pid_t pid; /* 0: slot free */
	int fd;
	size_t image;
	struct hoist_buf in;
	bool got_result;
	int rc;
	char digest[HOIST_DIGEST_MAX];
	struct hoist_error err;
};

static void worker_main(const struct sched *sc, size_t i, int fd, const char *log_path)
{
	const struct hoist_stack_image *img = &sc->spec->images[i];
	struct worker_ctx w = {.fd = fd, .log_fd = -1, .img = img};
	struct hoist_error err = {0};
	struct hoist_store *ws = NULL;
	char digest[HOIST_DIGEST_MAX] = "";
	int rc;

	/* The other workers' pipes are the parent's business. */
	for (size_t k = 0; k < sc->jobs; k++)
		if (sc->workers[k].pid > 0 && sc->workers[k].fd >= 0)
			close(sc->workers[k].fd);
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
	struct msg m = {.type = MSG_RESULT,
			.n_ints = 5,
			.ints = {rc, err.code, err.line, err.column, err.http_status},
			.n_strs = 3,
			.strs = {digest, err.file, err.msg}};
	msg_send(fd, &m);
	_exit(0);
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

static int start_worker(struct sched *sc, struct worker *w, size_t i, struct hoist_error *err)
{
	int fds[2];
	_cleanup_free_ char *lp = log_path(sc, i);

	if (pipe2(fds, O_CLOEXEC) < 0)
		return hoist_error_set(err, -errno, "cannot make a pipe: %s", strerror(errno));
	fflush(NULL); /* or the worker's exit could write our buffered output again */
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return hoist_error_set(err, -e, "cannot fork a worker: %s", strerror(e));
	}
	if (pid == 0) {
		close(fds[0]);
		worker_main(sc, i, fds[1], lp);
	}
	close(fds[1]);
	memset(w, 0, sizeof(*w));
	w->pid = pid;
	w->fd = fds[0];
	w->image = i;
	hoist_buf_init(&w->in, FRAME_MAX * 2);
	return 0;
}

/* Pass one message of worker w on. */
static void dispatch(struct sched *sc, struct worker *w, const struct msg *m)
{
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
	case MSG_BUILD:
		if (m->n_ints >= 6 && m->n_strs >= 2 && o->on_build_event && m->ints[0] >= 0 &&
		    m->ints[0] <= HOIST_BUILD_EVENT_OUTPUT) {
			struct hoist_build_event ev = {
			    .kind = (enum hoist_build_event_kind)m->ints[0],
			    .stage_index = (int)m->ints[1],
			    .step = (int)m->ints[2],
			    .n_steps = (int)m->ints[3],
			    .cached = m->ints[4] != 0,
			    .seconds = (double)m->ints[5] / 1e6,
			    .stage = m->strs[0],
			    .text = m->strs[1],
			};
			o->on_build_event(img, &ev, o->userdata);
		}
		break;
	case MSG_LOG:
		if (m->n_ints >= 1 && m->n_strs >= 1 && m->strs[0])
			hoist_log((int)m->ints[0], "%s: %s", img->name, m->strs[0]);
		break;
	case MSG_RESULT:
		if (m->n_ints >= 5 && m->n_strs >= 3) {
			w->got_result = true;
			w->rc = (int)m->ints[0];
			snprintf(w->digest, sizeof(w->digest), "%s", m->strs[0] ? m->strs[0] : "");
			w->err.code = (int)m->ints[1];
			w->err.line = (int)m->ints[2];
			w->err.column = (int)m->ints[3];
			w->err.http_status = (int)m->ints[4];
			snprintf(w->err.file, sizeof(w->err.file), "%s",
				 m->strs[1] ? m->strs[1] : "");
			snprintf(w->err.msg, sizeof(w->err.msg), "%s",
				 m->strs[2] ? m->strs[2] : "");
			if (w->rc < 0 && w->err.code == 0)
				w->err.code = w->rc;
		}
		break;
	}
}

/* Read what worker w sent. 1: more to come, 0: end of its output, < 0: junk. */
static int worker_read(struct sched *sc, struct worker *w)
{
	char buf[65536];
	ssize_t n = read(w->fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;
	if (hoist_buf_add(&w->in, buf, (size_t)n) < 0)
		return -EBADMSG;
	size_t off = 0;
	while (w->in.len - off >= sizeof(uint32_t)) {
		uint32_t len;
		memcpy(&len, w->in.data + off, sizeof(len));
		if (len > FRAME_MAX)
			return -EBADMSG;
		if (w->in.len - off - sizeof(len) < len)
			break;
		struct msg m;
		int r = msg_decode(w->in.data + off + sizeof(len), len, &m);
		if (r == 0)
			dispatch(sc, w, &m);
		msg_release(&m);
		if (r < 0)
			return r;
		off += sizeof(len) + len;
	}
	if (off) {
		memmove(w->in.data, w->in.data + off, w->in.len - off);
		w->in.len -= off;
		w->in.data[w->in.len] = '\0';
	}
	return 1;
}

/* Reap worker w; fill in a failure when it sent no result. */
static void worker_finish(struct worker *w, const char *name, bool junk)
{
	int status = 0;
	if (junk)
		kill(w->pid, SIGKILL);
	close(w->fd);
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (junk) {
		w->rc = hoist_error_set(&w->err, -EPROTO,
					"image '%s': its worker sent a malformed message", name);
	} else if (!w->got_result) {
		if (WIFSIGNALED(status))
			w->rc = hoist_error_set(&w->err, -ECHILD,
						"image '%s': its worker was killed by signal %d",
						name, WTERMSIG(status));
		else
			w->rc = hoist_error_set(&w->err, -ECHILD,
						"image '%s': its worker exited with status %d "
						"without a result",
						name, WEXITSTATUS(status));
	}
	hoist_buf_release(&w->in);
	w->pid = 0;
	w->fd = -1;
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

static unsigned default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

int hoist_stack_build(struct hoist_store *s, const struct hoist_stack_spec *spec,
		      const struct hoist_stack_plan *plan, const struct hoist_stack_opts *o,
		      size_t *ret_built, struct hoist_error *err)
{
	size_t n = spec->n_images, built = 0, failed = 0, running = 0;
	_cleanup_free_ char *tag = NULL;
	_cleanup_free_ enum img_state *st = hoist_xcalloc(n ? n : 1, sizeof(*st));
	_cleanup_free_ struct pollfd *pfds = NULL;
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
				: hoist_xasprintf("%s/logs/stack", hoist_store_root(s));
	if ((r = mkdir_p(sc.log_dir)) < 0) {
		hoist_error_set(err, r, "cannot create the log folder '%s': %s", sc.log_dir,
				strerror(-r));
		goto out;
	}
	sc.jobs = o->jobs ? o->jobs : default_jobs();
	if (sc.jobs > MAX_JOBS)
		sc.jobs = MAX_JOBS;
	sc.workers = hoist_xcalloc(sc.jobs, sizeof(*sc.workers));
	pfds = hoist_xcalloc(sc.jobs, sizeof(*pfds));

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
			while (sc.workers[slot].pid > 0)
				slot++;
			struct hoist_error e = {0};
			if (start_worker(&sc, &sc.workers[slot], i, &e) < 0) {
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

		size_t np = 0;
		for (size_t k = 0; k < sc.jobs; k++)
			if (sc.workers[k].pid > 0)
				pfds[np++] =
				    (struct pollfd){.fd = sc.workers[k].fd, .events = POLLIN};
		if (poll(pfds, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			/* Cannot wait for the workers: wait for each in turn. */
			for (size_t k = 0; k < np; k++)
				pfds[k].revents = POLLIN;
		}
		for (size_t k = 0, q = 0; k < sc.jobs; k++) {
			struct worker *w = &sc.workers[k];
			if (w->pid <= 0)
				continue;
			if (!(pfds[q++].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int rr = worker_read(&sc, w);
			if (rr > 0)
				continue;
			size_t i = w->image;
			worker_finish(w, spec->images[i].name, rr < 0);
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
	return r;
}
