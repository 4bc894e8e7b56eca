/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RUN steps: the command line as BuildKit's dockerfile2llb makes it (SHELL,
 * exec form, heredocs), its environment, --mount / --network, the cache key
 * and history text, and the run itself in the sandbox (hoist/sandbox.h)
 * with the step's output captured for the error report.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/sandbox.h"
#include "run-private.h"

#define TAIL_LINES 20
#define TAIL_BYTES ((size_t)16 << 10)
#define MAX_MOUNTS 32
#define BIND_HASH_MAX_DEPTH 64

struct runstate {
	bool have_idmap;
	struct hoist_idmap idmap;
	struct hoist_isolation_choice iso;
};

void runstate_free(struct runstate *rs)
{
	free(rs);
}

struct run_mount {
	enum hoist_mount_type type;
	char *target;
	char *source; /* bind: host path; cache: id; secret: host file (never in keys) */
	char *id;     /* secret id */
	bool rw;
	bool skip; /* an optional secret that was not given */
	uint32_t mode;
	uid_t uid;
	gid_t gid;
};

/* ---- helpers ------------------------------------------------------------- */

static const char *kv_get(const struct hoist_strv *v, const char *key)
{
	size_t n = strlen(key);
	for (size_t i = v->n; i-- > 0;)
		if (strncmp(v->v[i], key, n) == 0 && v->v[i][n] == '=')
			return v->v[i] + n + 1;
	return NULL;
}

/* Set kv's name in env to kv's value (replacing it in place, else appended). */
static void env_set(struct hoist_strv *env, const char *kv)
{
	size_t n = strcspn(kv, "=");
	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], kv, n) == 0 && env->v[i][n] == '=') {
			free(env->v[i]);
			env->v[i] = hoist_xstrdup(kv);
			return;
		}
	hoist_strv_push(env, kv);
}

static const char *json_env_get(const json_t *env, const char *key)
{
	size_t n = strlen(key), i;
	json_t *e;
	json_array_foreach(env, i, e)
	{
		const char *s = json_string_value(e);
		if (s && strncmp(s, key, n) == 0 && s[n] == '=')
			return s + n + 1;
	}
	return NULL;
}

static const json_t *img_cfg(const struct hoist_image *img)
{
	return json_object_get(img->config, "config");
}

/* BuildKit's parser.ChompHeredocContent: strip leading tabs of every line. */
static char *chomp_heredoc(const char *s)
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
 * Is `cmd` just "<<NAME" (or "<<-NAME", "<<'NAME'", "<<\"NAME\"") for the
 * heredoc `name`? Then BuildKit runs the body itself rather than the line.
 */
static bool is_single_heredoc(const char *cmd, const char *name)
{
	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	if (strncmp(cmd, "<<", 2) != 0)
		return false;
	cmd += 2;
	if (*cmd == '-')
		cmd++;
	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	size_t n = strlen(cmd);
	while (n && (cmd[n - 1] == ' ' || cmd[n - 1] == '\t' || cmd[n - 1] == '\n'))
		n--;
	if (n >= 2 && (cmd[0] == '"' || cmd[0] == '\'') && cmd[n - 1] == cmd[0]) {
		cmd++;
		n -= 2;
	}
	return strlen(name) == n && strncmp(cmd, name, n) == 0;
}

/* ---- --mount ------------------------------------------------------------- */

static void mount_release(struct run_mount *m)
{
	free(m->target);
	free(m->source);
	free(m->id);
}

static bool truthy(const char *v)
{
	return !v || strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

/* The host file of secret `id` from the build's --secret options, or NULL. */
static char *secret_source(const struct hoist_build_opts *o, const char *id)
{
	for (const char *const *s = o->secrets; s && *s; s++) {
		_cleanup_free_ char *copy = hoist_xstrdup(*s);
		const char *sid = NULL, *src = NULL;
		for (char *p = copy, *next; p; p = next) {
			next = strchr(p, ',');
			if (next)
				*next++ = '\0';
			if (hoist_startswith(p, "id="))
				sid = p + 3;
			else if (hoist_startswith(p, "src="))
				src = p + 4;
			else if (hoist_startswith(p, "source="))
				src = p + 7;
		}
		if (sid && src && strcmp(sid, id) == 0)
			return hoist_xstrdup(src);
	}
	return NULL;
}

/* Resolve a context-relative bind source on the host; it must stay inside. */
static int bind_source(struct run_req *r, const char *src, char **ret, struct hoist_error *err)
{
	_cleanup_free_ char *joined = hoist_xasprintf("/%s", src);
	_cleanup_free_ char *clean = go_path_clean(joined);
	_cleanup_free_ char *host = hoist_xasprintf("%s%s", r->abs_ctx, clean);
	char real[PATH_MAX];
	if (!realpath(host, real))
		return hoist_error_set_at(err, -errno, r->file, r->in->line, 0,
					  "RUN --mount=type=bind: source '%s': %s", src,
					  strerror(errno));
	size_t n = strlen(r->abs_ctx);
	if (strncmp(real, r->abs_ctx, n) != 0 || (real[n] != '\0' && real[n] != '/'))
		return hoist_error_set_at(
		    err, -EPERM, r->file, r->in->line, 0,
		    "RUN --mount=type=bind: source '%s' is outside the context", src);
	*ret = hoist_xstrdup(real);
	return 0;
}

static int parse_mount(struct run_req *r, const char *spec, const char *wd, struct run_mount *m,
		       struct hoist_error *err)
{
	_cleanup_free_ char *copy = hoist_xstrdup(spec);
	const char *type = "bind", *target = NULL, *source = NULL, *from = NULL, *id = NULL;
	const char *mode = NULL, *uid = NULL, *gid = NULL;
	bool rw = false, ro_set = false, required = false;
	uint64_t n;

	for (char *p = copy, *next; p && *p; p = next) {
		next = strchr(p, ',');
		if (next)
			*next++ = '\0';
		char *v = strchr(p, '=');
		if (v)
			*v++ = '\0';
		if (strcmp(p, "type") == 0 && v)
			type = v;
		else if ((strcmp(p, "target") == 0 || strcmp(p, "dst") == 0 ||
			  strcmp(p, "destination") == 0) &&
			 v)
			target = v;
		else if ((strcmp(p, "source") == 0 || strcmp(p, "src") == 0) && v)
			source = v;
		else if (strcmp(p, "from") == 0 && v)
			from = v;
		else if (strcmp(p, "id") == 0 && v)
			id = v;
		else if (strcmp(p, "readonly") == 0 || strcmp(p, "ro") == 0)
			rw = !truthy(v), ro_set = true;
		else if (strcmp(p, "readwrite") == 0 || strcmp(p, "rw") == 0)
			rw = truthy(v), ro_set = true;
		else if (strcmp(p, "required") == 0)
			required = truthy(v);
		else if (strcmp(p, "mode") == 0 && v)
			mode = v;
		else if (strcmp(p, "uid") == 0 && v)
			uid = v;
		else if (strcmp(p, "gid") == 0 && v)
			gid = v;
		else if (strcmp(p, "sharing") == 0 || strcmp(p, "size") == 0)
			; /* one build at a time per cache id is all we do; tmpfs unbounded */
		else
			return hoist_error_set_at(err, -EINVAL, r->file, r->in->line, 0,
						  "RUN --mount: unknown option '%s'", p);
	}
	if (strcmp(type, "bind") == 0)
		m->type = HOIST_MOUNT_BIND;
	else if (strcmp(type, "cache") == 0)
		m->type = HOIST_MOUNT_CACHE;
	else if (strcmp(type, "tmpfs") == 0)
		m->type = HOIST_MOUNT_TMPFS;
	else if (strcmp(type, "secret") == 0)
		m->type = HOIST_MOUNT_SECRET;
	else
		return hoist_error_set_at(err, -EINVAL, r->file, r->in->line, 0,
					  "RUN --mount: unsupported mount type '%s'", type);
	if (from)
		return hoist_error_set_at(err, -ENOTSUP, r->file, r->in->line, 0,
					  "RUN --mount=...,from=%s is not supported yet", from);
	if (m->type == HOIST_MOUNT_SECRET) {
		if (!id && target) {
			const char *slash = strrchr(target, '/');
			id = slash ? slash + 1 : target;
		}
		if (!id || !*id)
			return hoist_error_set_at(
			    err, -EINVAL, r->file, r->in->line, 0,
			    "RUN --mount=type=secret needs an id or a target");
		m->id = hoist_xstrdup(id);
		if (!target) {
			m->target = hoist_xasprintf("/run/secrets/%s", id);
			target = m->target;
		}
		m->source = secret_source(r->o, id);
		if (!m->source) {
			if (required)
				return hoist_error_set_at(
				    err, -ENOENT, r->file, r->in->line, 0,
				    "secret '%s' is required but not given (hoist build --secret "
				    "id=%s,src=FILE)",
				    id, id);
			m->skip = true;
		}
	}
	if (!target || !*target)
		return hoist_error_set_at(err, -EINVAL, r->file, r->in->line, 0,
					  "RUN --mount: target is required");
	if (!m->target) {
		_cleanup_free_ char *joined =
		    target[0] == '/' ? hoist_xstrdup(target)
				     : hoist_xasprintf("%s/%s", wd && *wd ? wd : "/", target);
		m->target = go_path_clean(joined);
	}
	if (mode) {
		char *end = NULL;
		errno = 0;
		unsigned long mv = strtoul(mode, &end, 8);
		if (!*mode || errno || !end || *end || mv > 07777)
			return hoist_error_set_at(err, -EINVAL, r->file, r->in->line, 0,
						  "RUN --mount: bad mode '%s'", mode);
		m->mode = (uint32_t)mv;
	}
	if (uid) {
		if (hoist_parse_u64(uid, UINT32_MAX - 1, &n) < 0)
			return hoist_error_set_at(err, -EINVAL, r->file, r->in->line, 0,
						  "RUN --mount: bad uid '%s'", uid);
		m->uid = (uid_t)n;
	}
	if (gid) {
		if (hoist_parse_u64(gid, UINT32_MAX - 1, &n) < 0)
			return hoist_error_set_at(err, -EINVAL, r->file, r->in->line, 0,
						  "RUN --mount: bad gid '%s'", gid);
		m->gid = (gid_t)n;
	}
	switch (m->type) {
	case HOIST_MOUNT_BIND:
		m->rw = ro_set && rw;
		return bind_source(r, source ? source : "/", &m->source, err);
	case HOIST_MOUNT_CACHE:
		m->rw = true;
		m->source = hoist_xstrdup(id ? id : m->target);
		break;
	case HOIST_MOUNT_TMPFS:
		m->rw = true;
		break;
	case HOIST_MOUNT_SECRET:
		break;
	}
	return 0;
}

/*
 * A bind mount of the context makes the step depend on what it shows:
 * names, types, modes and bytes of everything under the source, in sorted
 * order (never timestamps).
 */
static int hash_tree(struct keyhash *k, int dirfd, const char *rel, int depth);

static int hash_entry(struct keyhash *k, int dirfd, const char *name, const char *rel, int depth)
{
	struct stat st;
	int rc = 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	_cleanup_free_ char *path = hoist_xasprintf("%s/%s", rel, name);
	char meta[96];
	snprintf(meta, sizeof(meta), "%o %u %u %lld", (unsigned)st.st_mode, (unsigned)st.st_uid,
		 (unsigned)st.st_gid, (long long)st.st_size);
	key_add(k, "bind-path", path);
	key_add(k, "bind-meta", meta);
	if (S_ISREG(st.st_mode)) {
		_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		char buf[65536];
		ssize_t got;
		if (fd < 0)
			return -errno;
		while ((got = read(fd, buf, sizeof(buf))) > 0)
			key_addn(k, "bind-data", buf, (size_t)got);
		if (got < 0)
			rc = -errno;
	} else if (S_ISLNK(st.st_mode)) {
		char link[PATH_MAX];
		ssize_t l = readlinkat(dirfd, name, link, sizeof(link) - 1);
		if (l >= 0) {
			link[l] = '\0';
			key_add(k, "bind-link", link);
		}
	} else if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int sub =
		    openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub < 0)
			rc = -errno;
		else if (depth >= BIND_HASH_MAX_DEPTH)
			rc = -ELOOP;
		else
			rc = hash_tree(k, sub, path, depth + 1);
	}
	return rc;
}

static int hash_tree(struct keyhash *k, int dirfd, const char *rel, int depth)
{
	struct dirent **ents = NULL;
	_cleanup_free_ char *self = hoist_xasprintf("/proc/self/fd/%d", dirfd);
	int n = scandir(self, &ents, NULL, alphasort);
	if (n < 0)
		return -errno;
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		if (rc >= 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
			rc = hash_entry(k, dirfd, name, rel, depth);
		free(ents[i]);
	}
	free(ents);
	return rc;
}

/* ---- prepare --------------------------------------------------------------- */

int run_prepare(struct run_req *r, const char *parent_key, struct hoist_error *err)
{
	const struct hoist_instr *in = r->in;
	const json_t *c = img_cfg(r->img);
	const json_t *cenv = json_object_get(c, "Env");
	const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
	_cleanup_strv_ struct hoist_strv cmd = HOIST_STRV_INIT;
	struct hoist_buf hist = HOIST_BUF_INIT;
	const char *net = in->network ? in->network : r->o->network;
	struct keyhash k;
	size_t i;
	json_t *e;
	int rc;

	if (in->security && strcmp(in->security, "sandbox") != 0)
		return hoist_error_set_at(err, -ENOTSUP, r->file, in->line, 0,
					  "RUN --security=%s is not supported", in->security);
	if (!net || !*net || strcmp(net, "default") == 0 || strcmp(net, "host") == 0)
		r->net_none = false;
	else if (strcmp(net, "none") == 0)
		r->net_none = true;
	else
		return hoist_error_set_at(err, -EINVAL, r->file, in->line, 0,
					  "RUN --network=%s: only host, default and none exist",
					  net);

	/* The command, as dockerfile2llb's dispatchRun builds it. */
	if (in->json) {
		for (i = 0; i < in->args.n; i++)
			hoist_strv_push(&cmd, in->args.v[i]);
	} else {
		struct hoist_buf line = HOIST_BUF_INIT;
		for (i = 0; i < in->args.n; i++) {
			if (i)
				hoist_buf_addc(&line, ' ');
			hoist_buf_adds(&line, in->args.v[i]);
		}
		_cleanup_free_ char *cl =
		    line.data ? hoist_buf_detach(&line, NULL) : hoist_xstrdup("");
		if (in->n_heredocs && is_single_heredoc(cl, in->heredocs[0].name)) {
			const struct hoist_instr_heredoc *h = &in->heredocs[0];
			if (hoist_startswith(h->content, "#!")) {
				/* A script with a shebang runs as a file (BuildKit
				 * mounts it at /dev/pipes/NAME). */
				_cleanup_free_ char *dir =
				    hoist_xasprintf("%s/pipes-%u", r->tmpdir, (*r->tmp_counter)++);
				_cleanup_free_ char *f = hoist_xasprintf("%s/%s", dir, h->name);
				_cleanup_close_ int fd = -1;
				if (!strchr(h->name, '/') && mkdir(dir, 0755) == 0)
					fd = open(f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
				if (fd < 0 ||
				    hoist_write_all(fd, h->content, strlen(h->content)) < 0)
					return hoist_error_set_at(err, -EIO, r->file, in->line, 0,
								  "RUN: cannot write heredoc '%s'",
								  h->name);
				chmod(dir, 0755);
				chmod(f, 0755);
				r->mounts = hoist_xcalloc(1, sizeof(*r->mounts));
				r->mounts[0] =
				    (struct run_mount){.type = HOIST_MOUNT_BIND,
						       .target = hoist_xstrdup("/dev/pipes"),
						       .source = TAKE_PTR(dir)};
				r->n_mounts = 1;
				hoist_strv_take(&cmd, hoist_xasprintf("/dev/pipes/%s", h->name));
			} else {
				hoist_strv_take(&cmd, h->chomp ? chomp_heredoc(h->content)
							       : hoist_xstrdup(h->content));
			}
		} else if (in->n_heredocs) {
			/* A heredoc inside a longer line: hand the whole text to the shell. */
			struct hoist_buf full = HOIST_BUF_INIT;
			hoist_buf_adds(&full, cl);
			for (i = 0; i < in->n_heredocs; i++)
				hoist_buf_addf(&full, "\n%s%s", in->heredocs[i].content,
					       in->heredocs[i].name);
			hoist_strv_take(&cmd, hoist_buf_detach(&full, NULL));
		} else {
			hoist_strv_take(&cmd, TAKE_PTR(cl));
		}
		const json_t *shell = json_object_get(c, "Shell");
		if (json_array_size(shell) > 0) {
			json_array_foreach(shell, i, e)
			    hoist_strv_push(&r->argv, json_string_value(e) ?: "");
		} else {
			hoist_strv_push(&r->argv, "/bin/sh");
			hoist_strv_push(&r->argv, "-c");
		}
	}
	for (i = 0; i < cmd.n; i++)
		hoist_strv_push(&r->argv, cmd.v[i]);
	if (r->argv.n == 0)
		return hoist_error_set_at(err, -EINVAL, r->file, in->line, 0,
					  "RUN requires at least one argument");

	/* Environment: the image's Env with the stage's ARG values over it (those
	 * no later ENV replaced: see struct stagestate). */
	json_array_foreach(cenv, i, e) if (json_is_string(e))
	    hoist_strv_push(&r->env, json_string_value(e));
	for (i = 0; i < r->args->n; i++)
		env_set(&r->env, r->args->v[i]);

	/* History: "RUN |N K=V ... /bin/sh -c cmd # buildkit", one K=V per ARG the
	 * stage declared, repeats included, with the value the command sees (""
	 * when it has none), as BuildKit 20.10 writes it. */
	hoist_buf_adds(&hist, "RUN ");
	if (r->argdecl->n) {
		hoist_buf_addf(&hist, "|%zu ", r->argdecl->n);
		for (i = 0; i < r->argdecl->n; i++) {
			const char *key = r->argdecl->v[i];
			const char *ev = kv_lookup(r->args, key);
			if (!ev)
				ev = json_env_get(cenv, key);
			hoist_buf_addf(&hist, "%s=%s ", key, ev ? ev : "");
		}
	}
	for (i = 0; i < r->argv.n; i++)
		hoist_buf_addf(&hist, "%s%s", i ? " " : "", r->argv.v[i]);
	hoist_buf_adds(&hist, " # buildkit");
	r->history = hoist_buf_detach(&hist, NULL);
	r->text = hoist_xstrdup(in->original ? in->original : r->history);

	/* Mounts. */
	if (in->mounts.n) {
		if (in->mounts.n > MAX_MOUNTS)
			return hoist_error_set_at(err, -E2BIG, r->file, in->line, 0,
						  "RUN: more than %d --mount options", MAX_MOUNTS);
		size_t base = r->n_mounts;
		r->mounts = hoist_xrealloc(r->mounts, (base + in->mounts.n) * sizeof(*r->mounts));
		memset(r->mounts + base, 0, in->mounts.n * sizeof(*r->mounts));
		for (i = 0; i < in->mounts.n; i++) {
			r->n_mounts = base + i + 1;
			rc = parse_mount(r, in->mounts.v[i], wd, &r->mounts[base + i], err);
			if (rc < 0)
				return rc;
		}
	}

	/* The cache key. Secrets enter by id only, never by content or path. */
	key_begin(&k, parent_key, r->plat);
	key_add(&k, "step", r->history);
	for (i = 0; i < r->args->n; i++)
		key_add(&k, "arg", r->args->v[i]);
	key_add(&k, "network", r->net_none ? "none" : "host");
	for (i = 0; i < r->n_mounts; i++) {
		const struct run_mount *m = &r->mounts[i];
		char meta[96];
		snprintf(meta, sizeof(meta), "%d %d %o %u %u", (int)m->type, m->rw,
			 (unsigned)m->mode, (unsigned)m->uid, (unsigned)m->gid);
		key_add(&k, "mount", meta);
		key_add(&k, "mount-target", m->target);
		if (m->type == HOIST_MOUNT_SECRET) {
			key_add(&k, "mount-secret", m->id);
		} else if (m->type == HOIST_MOUNT_CACHE) {
			key_add(&k, "mount-cache", m->source);
		} else if (m->type == HOIST_MOUNT_BIND) {
			_cleanup_close_ int fd =
			    open(m->source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_DIRECTORY);
			if (fd >= 0) {
				rc = hash_tree(&k, fd, "", 0);
			} else {
				/* a single file: hash its parent's entry for it */
				_cleanup_free_ char *dir = hoist_xstrdup(m->source);
				char *slash = strrchr(dir, '/');
				rc = -ENOENT;
				if (slash) {
					*slash = '\0';
					_cleanup_close_ int dfd = open(
					    *dir ? dir : "/", O_RDONLY | O_CLOEXEC | O_DIRECTORY);
					rc = dfd < 0 ? -errno
						     : hash_entry(&k, dfd, slash + 1, "", 0);
				}
			}
			if (rc < 0) {
				hoist_sha256_release(&k.h);
				return hoist_error_set_at(err, rc, r->file, in->line, 0,
							  "RUN --mount=type=bind: reading '%s': %s",
							  m->source, strerror(-rc));
			}
		}
	}
	key_finish(&k, r->key);
	return 0;
}

/* ---- exec ------------------------------------------------------------------- */

static void emit(struct run_req *r, enum hoist_build_event_kind kind, const char *text)
{
	if (!r->o->on_event)
		return;
	struct hoist_build_event ev = {
	    .kind = kind,
	    .stage = r->stage,
	    .stage_index = r->stage_index,
	    .step = r->step,
	    .n_steps = r->n_steps,
	    .text = text,
	};
	r->o->on_event(&ev, r->o->userdata);
}

static void sandbox_log(const char *msg, void *ud)
{
	emit(ud, HOIST_BUILD_EVENT_LOG, msg);
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/*
 * The command's stdout and stderr go to a pipe read by a forked helper that
 * copies them to the log file (for the tail on failure) and, when asked, to
 * the stream fd. A process rather than a thread: the sandbox clones and
 * must find hoist single-threaded.
 */
static int tee_start(int log_fd, int stream_fd, int *ret_wfd, pid_t *ret_pid)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (pid == 0) {
		char buf[8192];
		close(p[1]);
		for (;;) {
			ssize_t n = read(p[0], buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			write_all(log_fd, buf, (size_t)n);
			if (stream_fd > 0)
				write_all(stream_fd, buf, (size_t)n);
		}
		_exit(0);
	}
	close(p[0]);
	*ret_wfd = p[1];
	*ret_pid = pid;
	return 0;
}

/* The last TAIL_LINES lines of the log, each prefixed for the report. */
static char *log_tail(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size == 0)
		return NULL;
	off_t off = st.st_size > (off_t)TAIL_BYTES ? st.st_size - (off_t)TAIL_BYTES : 0;
	size_t want = (size_t)(st.st_size - off);
	_cleanup_free_ char *buf = hoist_xmalloc(want + 1);
	ssize_t got = pread(fd, buf, want, off);
	if (got <= 0)
		return NULL;
	buf[got] = '\0';
	size_t n = (size_t)got;
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	char *start = buf;
	int lines = 0;
	for (size_t i = n; i-- > 0;)
		if (buf[i] == '\n' && ++lines == TAIL_LINES) {
			start = buf + i + 1;
			break;
		}
	return hoist_xstrdup(start);
}

static int ensure_idmap(struct runstate **rsp, const struct hoist_build_opts *o,
			struct hoist_error *err)
{
	enum hoist_idmode want = HOIST_IDMODE_AUTO;
	if (!*rsp)
		*rsp = hoist_xcalloc(1, sizeof(**rsp));
	if ((*rsp)->have_idmap)
		return 0;
	enum hoist_isolation iso;
	if (o->identity && hoist_idmode_parse(o->identity, &want) < 0)
		return hoist_error_set(err, -EINVAL, "unknown identity mode '%s'", o->identity);
	int rc = hoist_isolation_parse(o->isolation, &iso, err);
	if (rc < 0)
		return rc;
	/* Once per build, on the first RUN: the probes fork. */
	rc = hoist_isolation_pick(iso, want, &(*rsp)->iso, &(*rsp)->idmap, err);
	if (rc < 0)
		return rc;
	(*rsp)->have_idmap = true;
	return 1;
}

int run_exec(struct hoist_store *s, struct runstate **rsp, struct run_req *r,
	     struct hoist_error *err)
{
	const struct hoist_instr *in = r->in;
	const json_t *c = img_cfg(r->img);
	const json_t *ids = json_object_get(json_object_get(r->img->config, "rootfs"), "diff_ids");
	_cleanup_strv_ struct hoist_strv diff_ids = HOIST_STRV_INIT;
	struct hoist_sandbox_mount mounts[MAX_MOUNTS + 1];
	struct hoist_rootfs rootfs = {0};
	struct hoist_sandbox_opts so;
	struct hoist_sandbox_result res;
	struct hoist_user u;
	_cleanup_close_ int logfd = -1;
	int wfd = -1;
	pid_t tee = -1;
	size_t nm = 0, i;
	json_t *e;
	int rc;

	if ((rc = ensure_idmap(rsp, r->o, err)) < 0)
		return hoist_error_prefix(err, "%s:%d: RUN", r->file, in->line);
	if (rc > 0) {
		_cleanup_free_ char *line =
		    hoist_xasprintf("isolation: %s (%s)", hoist_isolation_name((*rsp)->iso.rung),
				    (*rsp)->iso.reason);
		emit(r, HOIST_BUILD_EVENT_LOG, line);
	}
	json_array_foreach(ids, i, e) if (json_is_string(e))
	    hoist_strv_push(&diff_ids, json_string_value(e));
	if (diff_ids.n != r->img->n_layers)
		return hoist_error_set_at(err, -EBADMSG, r->file, in->line, 0,
					  "RUN: the image has %zu diff_ids for %zu layers",
					  diff_ids.n, r->img->n_layers);
	rc = hoist_rootfs_prepare(s, &(*rsp)->idmap, r->img->layers,
				  (const char *const *)diff_ids.v, r->img->n_layers, &rootfs, err);
	if (rc < 0)
		return hoist_error_prefix(err, "%s:%d: RUN", r->file, in->line);

	const char *user = json_string_value(json_object_get(c, "User"));
	if ((rc = hoist_user_resolve(&rootfs, user ? user : "", &u, err)) < 0) {
		hoist_error_prefix(err, "%s:%d: RUN", r->file, in->line);
		goto out;
	}
	/* runc sets HOME from passwd when the environment has none. */
	if (!kv_get(&r->env, "HOME")) {
		_cleanup_free_ char *home = hoist_xasprintf("HOME=%s", u.home);
		hoist_strv_push(&r->env, home);
	}
	for (i = 0; i < r->n_mounts; i++) {
		const struct run_mount *m = &r->mounts[i];
		if (m->skip)
			continue;
		mounts[nm++] = (struct hoist_sandbox_mount){
		    .type = m->type,
		    .source = m->source,
		    .target = m->target,
		    .rw = m->rw,
		    .mode = m->mode,
		    .uid = m->uid,
		    .gid = m->gid,
		};
	}

	/* The output log lives in the build's temporary directory, unlinked. */
	{
		_cleanup_free_ char *lp =
		    hoist_xasprintf("%s/runlog-%u", r->tmpdir, (*r->tmp_counter)++);
		logfd = open(lp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (logfd < 0) {
			rc = hoist_error_set_at(err, -errno, r->file, in->line, 0,
						"RUN: cannot create '%s': %s", lp, strerror(errno));
			goto out;
		}
		unlink(lp);
	}
	if ((rc = tee_start(logfd, r->o->output_fd, &wfd, &tee)) < 0) {
		hoist_error_set_at(err, rc, r->file, in->line, 0, "RUN: cannot start: %s",
				   strerror(-rc));
		goto out;
	}

	const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
	hoist_sandbox_opts_init(&so);
	so.rootfs = &rootfs;
	so.idmap = &(*rsp)->idmap;
	so.argv = (const char *const *)r->argv.v;
	so.env = (const char *const *)(r->env.v ? r->env.v : (char *[]){NULL});
	so.cwd = wd && *wd ? wd : "/";
	so.uid = u.uid;
	so.gid = u.gid;
	so.groups = u.groups;
	so.n_groups = u.n_groups;
	so.net = r->net_none ? HOIST_NET_NONE : HOIST_NET_HOST;
	so.hostname = "buildkitsandbox";
	so.mounts = mounts;
	so.n_mounts = nm;
	so.stdin_fd = -1;
	so.stdout_fd = wfd;
	so.stderr_fd = wfd;
	so.want_layer = true;
	so.layer_opts.source_date_epoch = r->sde;
	so.layer_opts.compression = (enum hoist_layer_compression)r->o->compression;
	if (so.layer_opts.compression == HOIST_LAYER_ZSTD)
		so.layer_opts.zstd_level = r->o->compression_level;
	else
		so.layer_opts.gzip_level = r->o->compression_level;
	so.log = sandbox_log;
	so.log_userdata = r;
	so.platform = r->plat; /* a foreign stage's RUN goes through qemu-user */
	so.isolation = (*rsp)->iso.rung;
	/* in-place: what the build still reads stays where it is. */
	const char *keep[] = {r->o->context_dir, r->o->dockerfile, NULL};
	so.keep = keep;
	rc = hoist_sandbox_run(s, &so, &res, err);
	close(wfd);
	wfd = -1;
	while (waitpid(tee, NULL, 0) < 0 && errno == EINTR)
		;
	tee = -1;
	if (rc < 0) {
		hoist_error_prefix(err, "%s:%d: %s", r->file, in->line, r->text);
		goto out;
	}
	if (res.exit_status != 0) {
		_cleanup_free_ char *tail = log_tail(logfd);
		if (tail)
			emit(r, HOIST_BUILD_EVENT_OUTPUT, tail);
		char how[256];
		/* "exited with status N", or a qemu crash named as such */
		hoist_sandbox_describe_exit(&res, how, sizeof(how));
		rc = hoist_error_set_at(err, -ECANCELED, r->file, in->line, 0, "%s %s", r->text,
					how);
		goto out;
	}
	if (!res.has_layer) {
		rc = hoist_error_set_at(err, -EIO, r->file, in->line, 0, "%s: no layer was made",
					r->text);
		goto out;
	}
	hoist_image_add_layer(r->img, &res.layer, res.diff_id);
	rc = 0;
out:
	if (wfd >= 0)
		close(wfd);
	if (tee > 0) {
		kill(tee, SIGKILL);
		while (waitpid(tee, NULL, 0) < 0 && errno == EINTR)
			;
	}
	hoist_rootfs_release(&rootfs);
	return rc;
}

void run_req_release(struct run_req *r)
{
	free(r->text);
	free(r->history);
	hoist_strv_release(&r->argv);
	hoist_strv_release(&r->env);
	for (size_t i = 0; i < r->n_mounts; i++)
		mount_release(&r->mounts[i]);
	free(r->mounts);
	r->text = r->history = NULL;
	r->mounts = NULL;
	r->n_mounts = 0;
}
