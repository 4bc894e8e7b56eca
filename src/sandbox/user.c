/* SPDX-License-Identifier: Apache-2.0 */
/* USER name[:group] against the image's /etc/passwd and /etc/group, as Docker does. */
#include <errno.h>
#include <string.h>

#include "hoist/util.h"
#include "sandbox-private.h"

#define DB_MAX ((size_t)4 << 20)

static bool parse_id(const char *s, uint32_t *ret)
{
	uint64_t v;
	if (!*s || hoist_parse_u64(s, UINT32_MAX - 1, &v) < 0)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/* Split a colon-separated line into at most max fields (in place). */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	while (n < max) {
		f[n++] = line;
		char *c = strchr(line, ':');
		if (!c)
			break;
		*c = '\0';
		line = c + 1;
	}
	return n;
}

/* Each line of a db file in turn; stops when fn returns true. */
static bool each_line(char *data, bool (*fn)(char **f, size_t n, void *ud), size_t nf, void *ud)
{
	for (char *line = data; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *f[8];
		if (line[0] != '#' && line[0] && fn(f, split_fields(line, f, nf), ud))
			return true;
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

struct pw_query {
	const char *name; /* or NULL */
	uint32_t id;
	bool found;
	char pw_name[256];
	struct hoist_user *u;
};

static bool pw_match(char **f, size_t n, void *ud)
{
	struct pw_query *q = ud;
	uint32_t uid, gid;
	if (n < 7 || !parse_id(f[2], &uid) || !parse_id(f[3], &gid))
		return false;
	if (q->name ? strcmp(f[0], q->name) != 0 : uid != q->id)
		return false;
	q->u->uid = uid;
	q->u->gid = gid;
	snprintf(q->u->home, sizeof(q->u->home), "%s", f[5]);
	snprintf(q->pw_name, sizeof(q->pw_name), "%s", f[0]);
	q->found = true;
	return true;
}

struct gr_query {
	const char *name; /* group name, or NULL for a member scan */
	bool found;
	uint32_t gid;
	const char *member;
	struct hoist_user *u;
};

static bool gr_match(char **f, size_t n, void *ud)
{
	struct gr_query *q = ud;
	uint32_t gid;
	if (n < 3 || !parse_id(f[2], &gid))
		return false;
	if (q->name) {
		if (strcmp(f[0], q->name) != 0)
			return false;
		q->gid = gid;
		q->found = true;
		return true;
	}
	if (n < 4 || !q->member[0])
		return false;
	for (char *m = f[3]; m && *m;) {
		char *comma = strchr(m, ',');
		size_t len = comma ? (size_t)(comma - m) : strlen(m);
		if (len == strlen(q->member) && memcmp(m, q->member, len) == 0 &&
		    q->u->n_groups < ARRAY_SIZE(q->u->groups)) {
			bool dup = false;
			for (size_t i = 0; i < q->u->n_groups; i++)
				dup |= q->u->groups[i] == gid;
			if (!dup)
				q->u->groups[q->u->n_groups++] = gid;
			break;
		}
		m = comma ? comma + 1 : NULL;
	}
	return false;
}

int hoist_user_resolve(const struct hoist_rootfs *r, const char *user, struct hoist_user *ret,
		       struct hoist_error *err)
{
	struct hoist_user u = {0};
	snprintf(u.home, sizeof(u.home), "/");
	_cleanup_free_ char *spec = hoist_xstrdup(user ? user : "");
	char *group = strchr(spec, ':');
	if (group)
		*group++ = '\0';
	_cleanup_free_ char *passwd = NULL, *grp = NULL;
	size_t len;
	if (r)
		hoist_rootfs_read_file(r, "etc/passwd", DB_MAX, &passwd, &len, NULL);
	if (r)
		hoist_rootfs_read_file(r, "etc/group", DB_MAX, &grp, &len, NULL);

	struct pw_query pq = {.u = &u};
	uint32_t id;
	if (!*spec) {
		pq.id = 0;
	} else if (parse_id(spec, &id)) {
		pq.id = id;
	} else {
		pq.name = spec;
	}
	if (passwd)
		each_line(passwd, pw_match, 7, &pq);
	if (!pq.found) {
		if (pq.name)
			return hoist_error_set(err, -ENOENT,
					       "unable to find user '%s': no matching entries in "
					       "passwd file",
					       spec);
		u.uid = pq.id;
		u.gid = 0;
	}
	if (group && *group) {
		if (parse_id(group, &id)) {
			u.gid = id;
		} else {
			struct gr_query gq = {.name = group, .u = &u};
			_cleanup_free_ char *copy = grp ? hoist_xstrdup(grp) : NULL;
			if (copy)
				each_line(copy, gr_match, 4, &gq);
			if (!gq.found)
				return hoist_error_set(err, -ENOENT,
						       "unable to find group '%s': no matching "
						       "entries in group file",
						       group);
			u.gid = gq.gid;
		}
	} else if (grp && pq.found) {
		/* Supplementary groups only in the implicit form, as runc. */
		struct gr_query gq = {.member = pq.pw_name, .u = &u};
		each_line(grp, gr_match, 4, &gq);
	}
	*ret = u;
	return 0;
}
