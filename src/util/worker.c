/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forked workers reporting over a pipe: the framing, the fork and the
 * parent's poll loop, shared by `hoist stack build` and multi-platform
 * `hoist build` (include/hoist/worker.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/worker.h"

/* ---- messages ---------------------------------------------------------- */

void hoist_worker_send(int fd, const struct hoist_worker_msg *m)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	uint32_t len = 0;
	size_t n_ints = m->n_ints < HOIST_WORKER_MSG_INTS ? m->n_ints : HOIST_WORKER_MSG_INTS;
	size_t n_strs = m->n_strs < HOIST_WORKER_MSG_STRS ? m->n_strs : HOIST_WORKER_MSG_STRS;
	uint8_t head[3] = {(uint8_t)m->type, (uint8_t)n_ints, (uint8_t)n_strs};

	hoist_buf_init(&b, HOIST_WORKER_FRAME_MAX + sizeof(len));
	(void)hoist_buf_add(&b, &len, sizeof(len));
	(void)hoist_buf_add(&b, head, sizeof(head));
	(void)hoist_buf_add(&b, m->ints, n_ints * sizeof(int64_t));
	for (size_t i = 0; i < n_strs; i++) {
		uint32_t sl =
		    m->strs[i] ? (uint32_t)strnlen(m->strs[i], HOIST_WORKER_FIELD_MAX) : UINT32_MAX;
		(void)hoist_buf_add(&b, &sl, sizeof(sl));
		if (m->strs[i])
			(void)hoist_buf_add(&b, m->strs[i], sl);
	}
	/* 8 strings of at most FIELD_MAX each fit in FRAME_MAX: nothing was cut. */
	len = (uint32_t)(b.len - sizeof(len));
	memcpy(b.data, &len, sizeof(len));
	(void)hoist_write_all(fd, b.data, b.len);
	hoist_buf_release(&b);
}

/* Decode one frame's payload; the strings are copied (msg_release()). */
static int msg_decode(const char *p, size_t len, struct hoist_worker_msg *m)
{
	memset(m, 0, sizeof(*m));
	if (len < 3)
		return -EBADMSG;
	m->type = (unsigned char)p[0];
	m->n_ints = (unsigned char)p[1];
	m->n_strs = (unsigned char)p[2];
	p += 3;
	len -= 3;
	if (m->n_ints > HOIST_WORKER_MSG_INTS || m->n_strs > HOIST_WORKER_MSG_STRS ||
	    len < m->n_ints * sizeof(int64_t)) {
		m->n_strs = 0;
		return -EBADMSG;
	}
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
		if (n > HOIST_WORKER_FIELD_MAX || n > len)
			return -EBADMSG;
		m->strs[i] = hoist_xstrndup(p, n);
		p += n;
		len -= n;
	}
	return len == 0 ? 0 : -EBADMSG;
}

static void msg_release(struct hoist_worker_msg *m)
{
	for (size_t i = 0; i < m->n_strs; i++)
		free((char *)m->strs[i]);
	memset(m, 0, sizeof(*m));
}

void hoist_worker_msg_put_error(struct hoist_worker_msg *m, int rc, const struct hoist_error *err)
{
	m->ints[0] = rc;
	m->ints[1] = err ? err->code : 0;
	m->ints[2] = err ? err->line : 0;
	m->ints[3] = err ? err->column : 0;
	m->ints[4] = err ? err->http_status : 0;
	m->strs[0] = err ? err->file : NULL;
	m->strs[1] = err ? err->msg : NULL;
	if (m->n_ints < 5)
		m->n_ints = 5;
	if (m->n_strs < 2)
		m->n_strs = 2;
}

int hoist_worker_msg_get_error(const struct hoist_worker_msg *m, struct hoist_error *err)
{
	if (m->n_ints < 5 || m->n_strs < 2)
		return -EBADMSG;
	int rc = (int)m->ints[0];
	if (!err)
		return rc;
	err->code = (int)m->ints[1];
	err->line = (int)m->ints[2];
	err->column = (int)m->ints[3];
	err->http_status = (int)m->ints[4];
	snprintf(err->file, sizeof(err->file), "%s", m->strs[0] ? m->strs[0] : "");
	snprintf(err->msg, sizeof(err->msg), "%s", m->strs[1] ? m->strs[1] : "");
	if (rc < 0 && err->code == 0)
		err->code = rc;
	return rc;
}

/* ---- starting ---------------------------------------------------------- */

int hoist_worker_start(struct hoist_worker *ws, size_t n, size_t k, bool with_output,
		       hoist_worker_fn fn, void *userdata, struct hoist_error *err)
{
	int fds[2], out[2] = {-1, -1};

	if (pipe2(fds, O_CLOEXEC) < 0)
		return hoist_error_set(err, -errno, "cannot make a pipe: %s", strerror(errno));
	if (with_output && pipe2(out, O_CLOEXEC) < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return hoist_error_set(err, -e, "cannot make a pipe: %s", strerror(e));
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		if (out[0] >= 0) {
			close(out[0]);
			close(out[1]);
		}
		return hoist_error_set(err, -e, "cannot fork a worker: %s", strerror(e));
	}
	if (pid == 0) {
		/* The other workers' pipes are the parent's business. */
		for (size_t i = 0; i < n; i++) {
			if (i == k || ws[i].pid <= 0)
				continue;
			if (ws[i].fd >= 0)
				close(ws[i].fd);
			if (ws[i].out_fd >= 0)
				close(ws[i].out_fd);
		}
		close(fds[0]);
		if (out[0] >= 0)
			close(out[0]);
		fn(fds[1], out[1], userdata);
		_exit(0);
	}
	close(fds[1]);
	if (out[1] >= 0)
		close(out[1]);
	struct hoist_worker *w = &ws[k];
	memset(w, 0, sizeof(*w));
	w->pid = pid;
	w->fd = fds[0];
	w->out_fd = out[0];
	hoist_buf_init(&w->in, HOIST_WORKER_FRAME_MAX * 2);
	return 0;
}

/* ---- the parent's loop ------------------------------------------------- */

/* Read what worker k sent. 1: more to come, 0: end of its messages, < 0: junk. */
static int read_msgs(struct hoist_worker *w, size_t k, const struct hoist_worker_handler *h)
{
	char buf[65536];
	ssize_t n = read(w->fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0; /* a frame cut short: the worker died, its wait status tells */
	if (hoist_buf_add(&w->in, buf, (size_t)n) < 0)
		return -EBADMSG;
	size_t off = 0;
	while (w->in.len - off >= sizeof(uint32_t)) {
		uint32_t len;
		memcpy(&len, w->in.data + off, sizeof(len));
		if (len > HOIST_WORKER_FRAME_MAX)
			return -EBADMSG;
		if (w->in.len - off - sizeof(len) < len)
			break;
		struct hoist_worker_msg m;
		int r = msg_decode(w->in.data + off + sizeof(len), len, &m);
		if (r == 0 && h->on_msg)
			h->on_msg(k, &m, h->userdata);
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

/* Pass on what is in worker k's output pipe. 1: more to come, 0: EOF. */
static int read_output(struct hoist_worker *w, size_t k, const struct hoist_worker_handler *h)
{
	char buf[65536];
	ssize_t n = read(w->out_fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0; /* an error ends it too */
	if (n > 0 && h->on_output)
		h->on_output(k, buf, (size_t)n, h->userdata);
	return n > 0;
}

int hoist_worker_wait_any(struct hoist_worker *ws, size_t n, const struct hoist_worker_handler *h,
			  bool *ret_junk)
{
	_cleanup_free_ struct pollfd *pfds = hoist_xcalloc(n ? 2 * n : 1, sizeof(*pfds));

	*ret_junk = false;
	for (;;) {
		size_t np = 0;
		bool any = false;
		/* Slot i's entries are pfds[2i] and pfds[2i+1]; fd -1 is ignored by poll. */
		for (size_t i = 0; i < n; i++) {
			bool run = ws[i].pid > 0;
			pfds[np++] = (struct pollfd){.fd = run ? ws[i].fd : -1, .events = POLLIN};
			pfds[np++] =
			    (struct pollfd){.fd = run ? ws[i].out_fd : -1, .events = POLLIN};
			if (!run)
				continue;
			any = true;
			if (ws[i].fd < 0 && ws[i].out_fd < 0)
				return (int)i; /* ended (both pipes read to EOF) */
		}
		if (!any)
			return -ECHILD;
		if (poll(pfds, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			/* Cannot wait for the workers: read each in turn (blocking). */
			for (size_t i = 0; i < np; i++)
				pfds[i].revents = pfds[i].fd >= 0 ? POLLIN : 0;
		}
		for (size_t i = 0; i < n; i++) {
			struct hoist_worker *w = &ws[i];
			if (w->pid <= 0)
				continue;
			if (w->out_fd >= 0 &&
			    (pfds[2 * i + 1].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    read_output(w, i, h) == 0) {
				close(w->out_fd);
				w->out_fd = -1;
			}
			if (w->fd < 0 || !(pfds[2 * i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int r = read_msgs(w, i, h);
			if (r < 0) {
				*ret_junk = true;
				return (int)i;
			}
			if (r == 0) {
				close(w->fd);
				w->fd = -1;
			}
		}
	}
}

int hoist_worker_reap(struct hoist_worker *w, bool kill_it)
{
	int status = 0;
	if (w->pid <= 0)
		return -ECHILD;
	if (kill_it)
		kill(w->pid, SIGKILL);
	if (w->fd >= 0)
		close(w->fd);
	if (w->out_fd >= 0)
		close(w->out_fd);
	while (waitpid(w->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -errno;
			break;
		}
	}
	hoist_buf_release(&w->in);
	w->pid = 0;
	w->fd = w->out_fd = -1;
	return status;
}

int hoist_worker_lost(int status, struct hoist_error *err)
{
	if (status < 0)
		return hoist_error_set(err, -ECHILD, "cannot wait for its worker: %s",
				       strerror(-status));
	if (WIFSIGNALED(status))
		return hoist_error_set(err, -ECHILD, "its worker was killed by signal %d",
				       WTERMSIG(status));
	return hoist_error_set(err, -ECHILD, "its worker exited with status %d without a result",
			       WEXITSTATUS(status));
}

unsigned hoist_worker_default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}
