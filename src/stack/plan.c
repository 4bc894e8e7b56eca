/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a stack build rebuilds: git's list of changed paths, filtered by
 * ChangeIgnore, mapped to image folders, BuildAll paths and descendants.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/stack.h"

#define GIT_OUTPUT_MAX ((size_t)16 << 20)

const char *hoist_stack_reason_name(enum hoist_stack_reason r)
{
	switch (r) {
	case HOIST_STACK_SKIP:
		return "unchanged";
	case HOIST_STACK_CHANGED:
		return "changed";
	case HOIST_STACK_PARENT:
		return "parent rebuilt";
	case HOIST_STACK_BUILD_ALL:
		return "build-all path changed";
	case HOIST_STACK_FORCED:
		return "forced";
	case HOIST_STACK_ONLY_SKIP:
		return "not selected";
	}
	return "?";
}

void hoist_stack_plan_release(struct hoist_stack_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->why ? p->why[i] : NULL);
	free(p->why);
	free(p->reasons);
	hoist_strv_release(&p->changed);
	hoist_strv_release(&p->ignored);
	memset(p, 0, sizeof(*p));
}

/* Does pattern (components) match path components starting at path? */
static bool match_at(const char *pat, const char *path)
{
	for (;;) {
		const char *ps = strchr(pat, '/'), *qs = strchr(path, '/');
		size_t pl = ps ? (size_t)(ps - pat) : strlen(pat);
		size_t ql = qs ? (size_t)(qs - path) : strlen(path);
		char pc[256], qc[256];
		if (pl >= sizeof(pc) || ql >= sizeof(qc))
			return false;
		memcpy(pc, pat, pl);
		pc[pl] = '\0';
		memcpy(qc, path, ql);
		qc[ql] = '\0';
		if (fnmatch(pc, qc, FNM_PERIOD) != 0)
			return false;
		if (!ps || !ps[1])
			return true; /* pattern used up: the rest is inside it */
		if (!qs)
			return false;
		pat = ps + 1;
		path = qs + 1;
	}
}

bool hoist_stack_path_match(const char *pattern, const char *path)
{
	while (*pattern == '/' || hoist_startswith(pattern, "./"))
		pattern += *pattern == '/' ? 1 : 2;
	if (!*pattern)
		return false;
	for (const char *p = path; p; p = strchr(p, '/'), p = p ? p + 1 : NULL) {
		if (match_at(pattern, p))
			return true;
	}
	return false;
}

/* Run git with argv in dir; its stdout goes to out (bounded). */
static int run_git(const char *dir, const char *const *argv, struct hoist_buf *out,
		   struct hoist_error *err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return hoist_error_set(err, -errno, "pipe: %s", strerror(errno));
	const char *args[16];
	size_t n = 0;
	args[n++] = "git";
	args[n++] = "-C";
	args[n++] = dir;
	for (const char *const *a = argv; *a && n < ARRAY_SIZE(args) - 1; a++)
		args[n++] = *a;
	args[n] = NULL;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return hoist_error_set(err, -e, "fork: %s", strerror(e));
	}
	if (pid == 0) {
		dup2(pfd[1], 1);
		int dn = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (dn >= 0)
			dup2(dn, 0);
		execvp("git", (char *const *)args);
		_exit(127);
	}
	close(pfd[1]);
	int r = 0;
	char buf[65536];
	for (;;) {
		ssize_t k = read(pfd[0], buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (r == 0 && hoist_buf_add(out, buf, (size_t)k) < 0)
			r = hoist_error_set(err, -E2BIG, "git output larger than %zu bytes",
					    GIT_OUTPUT_MAX);
	}
	close(pfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return r;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return hoist_error_set(err, -EIO, "'git %s %s' failed in '%s' (status %d)", argv[0],
				       argv[1] ? argv[1] : "", dir,
				       WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	return 0;
}

static void split_lines(const char *data, const char *prefix, struct hoist_strv *ret)
{
	const char *p = data;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l)
			hoist_strv_take(ret, hoist_xasprintf("%s%.*s", prefix, (int)l, p));
		p = nl ? nl + 1 : NULL;
	}
}

/* "a/b/" -> "../../" */
static char *up_path(const char *prefix)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	for (const char *p = prefix; *p; p++)
		if (*p == '/')
			hoist_buf_adds(&b, "../");
	if (!b.data)
		return hoist_xstrdup("");
	return hoist_buf_detach(&b, NULL);
}

int hoist_stack_git_changed(const char *dir, const char *since, struct hoist_strv *ret,
			    struct hoist_error *err)
{
	struct hoist_buf prefix = HOIST_BUF_INIT, diff = HOIST_BUF_INIT, other = HOIST_BUF_INIT;
	_cleanup_free_ char *up = NULL;
	int r;
	hoist_buf_init(&prefix, 4096);
	hoist_buf_init(&diff, GIT_OUTPUT_MAX);
	hoist_buf_init(&other, GIT_OUTPUT_MAX);
	if (since[0] == '-') {
		r = hoist_error_set(err, -EINVAL, "invalid git ref '%s'", since);
		goto out;
	}
	/* Paths relative to the spec folder: diff's are relative to the top,
	 * so prefix those outside with "../" and strip our prefix. --relative
	 * would drop changes outside the folder, which BuildAll may name. */
	const char *a_pre[] = {"rev-parse", "--show-prefix", NULL};
	const char *a_diff[] = {"diff", "--name-only", "--no-renames", since, "--", NULL};
	const char *a_new[] = {"ls-files", "--others", "--exclude-standard", "--full-name", NULL};
	if ((r = run_git(dir, a_pre, &prefix, err)) < 0 ||
	    (r = run_git(dir, a_diff, &diff, err)) < 0 ||
	    (r = run_git(dir, a_new, &other, err)) < 0)
		goto out;
	char *pre = prefix.data ? prefix.data : (char *)"";
	pre[strcspn(pre, "\n")] = '\0';
	up = up_path(pre);
	struct hoist_strv all = HOIST_STRV_INIT;
	split_lines(diff.data, "", &all);
	split_lines(other.data, "", &all);
	for (size_t i = 0; i < all.n; i++) {
		if (hoist_startswith(all.v[i], pre))
			hoist_strv_push(ret, all.v[i] + strlen(pre));
		else
			hoist_strv_take(ret, hoist_xasprintf("%s%s", up, all.v[i]));
	}
	hoist_strv_release(&all);
out:
	hoist_buf_release(&prefix);
	hoist_buf_release(&diff);
	hoist_buf_release(&other);
	return r;
}

int hoist_stack_git_branch(const char *dir, char **ret, struct hoist_error *err)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	struct hoist_error e2 = {0};
	/* symbolic-ref also works before the first commit; a detached HEAD
	 * gets its short commit id instead of the useless "HEAD". */
	const char *a[] = {"symbolic-ref", "-q", "--short", "HEAD", NULL};
	const char *a2[] = {"rev-parse", "--short", "HEAD", NULL};
	hoist_buf_init(&b, 4096);
	int r = run_git(dir, a, &b, &e2);
	if (r < 0) {
		hoist_buf_reset(&b);
		r = run_git(dir, a2, &b, err);
	}
	if (r < 0) {
		hoist_buf_release(&b);
		return r;
	}
	if (!b.data) {
		hoist_buf_release(&b);
		return hoist_error_set(err, -EIO, "git printed no branch");
	}
	b.data[strcspn(b.data, "\n")] = '\0';
	*ret = hoist_buf_detach(&b, NULL);
	return 0;
}

int hoist_stack_plan(const struct hoist_stack_spec *spec, const struct hoist_strv *changed,
		     const char *const *only, struct hoist_stack_plan *ret, struct hoist_error *err)
{
	size_t n = spec->n_images;
	memset(ret, 0, sizeof(*ret));
	ret->n = n;
	ret->reasons = hoist_xcalloc(n ? n : 1, sizeof(*ret->reasons));
	ret->why = hoist_xcalloc(n ? n : 1, sizeof(char *));

	for (const char *const *o = only; o && *o; o++)
		if (hoist_stack_find(spec, *o) < 0) {
			hoist_stack_plan_release(ret);
			return hoist_error_set(err, -ENOENT, "no image '%s' in '%s'", *o,
					       spec->path ? spec->path : "the spec");
		}

	if (!changed) {
		for (size_t i = 0; i < n; i++)
			ret->reasons[i] = HOIST_STACK_FORCED;
	} else {
		const char *build_all = NULL;
		for (size_t c = 0; c < changed->n; c++) {
			const char *p = changed->v[c];
			bool ign = false;
			for (size_t k = 0; k < spec->change_ignore.n && !ign; k++)
				ign = hoist_stack_path_match(spec->change_ignore.v[k], p);
			if (ign) {
				hoist_strv_push(&ret->ignored, p);
				continue;
			}
			hoist_strv_push(&ret->changed, p);
			for (size_t k = 0; k < spec->build_all.n && !build_all; k++)
				if (hoist_stack_path_match(spec->build_all.v[k], p))
					build_all = p;
			for (size_t i = 0; i < n; i++) {
				const char *name = spec->images[i].name;
				size_t l = strlen(name);
				if (ret->reasons[i] == HOIST_STACK_SKIP &&
				    strncmp(p, name, l) == 0 && p[l] == '/') {
					ret->reasons[i] = HOIST_STACK_CHANGED;
					ret->why[i] = hoist_xstrdup(p);
				}
			}
		}
		if (build_all)
			for (size_t i = 0; i < n; i++) {
				ret->reasons[i] = HOIST_STACK_BUILD_ALL;
				free(ret->why[i]);
				ret->why[i] = hoist_xstrdup(build_all);
			}
		/* Descendants, in parent-first order. */
		for (size_t k = 0; k < n; k++) {
			size_t i = spec->order[k];
			size_t p = spec->images[i].parent;
			if (p == SIZE_MAX || ret->reasons[i] != HOIST_STACK_SKIP ||
			    ret->reasons[p] == HOIST_STACK_SKIP)
				continue;
			ret->reasons[i] = HOIST_STACK_PARENT;
			ret->why[i] = hoist_xstrdup(spec->images[p].name);
		}
	}
	if (only && only[0]) {
		for (size_t i = 0; i < n; i++) {
			bool sel = false;
			for (const char *const *o = only; *o && !sel; o++)
				sel = strcmp(*o, spec->images[i].name) == 0;
			if (!sel) {
				ret->reasons[i] = HOIST_STACK_ONLY_SKIP;
			} else if (ret->reasons[i] == HOIST_STACK_SKIP) {
				ret->reasons[i] = HOIST_STACK_FORCED;
			}
		}
	}
	return 0;
}
