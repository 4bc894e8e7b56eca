/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A snapshot's index (snapshot.c writes it while reading the layer) and
 * loading it back as a struct hoist_snapshot.
 *
 * Index format (little-endian), chosen to load 10k+ entries with no parsing:
 *   "HOISTSN1" u32 len, diff_id
 *   then per entry: u8 type, u8 flags (1 whiteout, 2 opaque), u32 mode,
 *   u32 uid, u32 gid, i64 mtime, u64 size, u32 devmajor, u32 devminor,
 *   u32 len path, u32 len linkname (0xffffffff: none), u16 n_xattrs, then
 *   per xattr u32 len name, u32 len value.
 */
#include <errno.h>
#include <string.h>

#include "layer-private.h"

#define INDEX_MAGIC "HOISTSN1"
#define INDEX_MAX ((size_t)1 << 30)
#define NO_STRING 0xffffffffu

/* ---- index encoding --------------------------------------------------- */

static void put_u32(struct hoist_buf *b, uint32_t v)
{
	unsigned char x[4] = {v, v >> 8, v >> 16, v >> 24};
	hoist_buf_add(b, x, 4);
}

static void put_u64(struct hoist_buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(struct hoist_buf *b, const char *s, size_t len)
{
	if (!s) {
		put_u32(b, NO_STRING);
		return;
	}
	put_u32(b, (uint32_t)len);
	hoist_buf_add(b, s, len);
}

void snap_index_add(struct hoist_buf *b, const struct hoist_entry *e, int flags)
{
	unsigned char hdr[2] = {(unsigned char)e->type, (unsigned char)flags};
	hoist_buf_add(b, hdr, 2);
	put_u32(b, e->mode);
	put_u32(b, e->uid);
	put_u32(b, e->gid);
	put_u64(b, (uint64_t)e->mtime);
	put_u64(b, e->size);
	put_u32(b, e->devmajor);
	put_u32(b, e->devminor);
	put_str(b, e->path, strlen(e->path));
	put_str(b, e->linkname, e->linkname ? strlen(e->linkname) : 0);
	unsigned char nx[2] = {(unsigned char)e->n_xattrs, (unsigned char)(e->n_xattrs >> 8)};
	hoist_buf_add(b, nx, 2);
	for (size_t i = 0; i < e->n_xattrs; i++) {
		put_str(b, e->xattrs[i].name, strlen(e->xattrs[i].name));
		put_str(b, e->xattrs[i].value, e->xattrs[i].len);
	}
}

struct cursor {
	const unsigned char *p;
	size_t left;
	bool bad;
};

static const unsigned char *take(struct cursor *c, size_t n)
{
	const unsigned char *p = c->p;
	if (c->bad || c->left < n) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	c->left -= n;
	return p;
}

static uint32_t get_u32(struct cursor *c)
{
	const unsigned char *p = take(c, 4);
	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		       (uint32_t)p[3] << 24
		 : 0;
}

static uint64_t get_u64(struct cursor *c)
{
	uint64_t lo = get_u32(c);
	return lo | (uint64_t)get_u32(c) << 32;
}

static char *get_str(struct cursor *c, size_t *ret_len)
{
	uint32_t len = get_u32(c);
	const unsigned char *p;
	char *s;
	if (c->bad || len == NO_STRING)
		return NULL;
	p = take(c, len);
	if (!p)
		return NULL;
	s = hoist_xmalloc((size_t)len + 1);
	memcpy(s, p, len);
	s[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return s;
}

void snap_index_begin(struct hoist_buf *b, const char *diff_id)
{
	hoist_buf_adds(b, INDEX_MAGIC);
	put_str(b, diff_id, strlen(diff_id));
}

void hoist_snapshot_release(struct hoist_snapshot *snap)
{
	if (!snap)
		return;
	for (size_t i = 0; i < snap->n_entries; i++)
		hoist_entry_release(&snap->entries[i].e);
	free(snap->entries);
	free(snap->root);
	memset(snap, 0, sizeof(*snap));
}

static int parse_index(const char *data, size_t len, struct hoist_snapshot *snap)
{
	struct cursor c = {(const unsigned char *)data, len, false};
	size_t alloc = 0;
	_cleanup_free_ char *did = NULL;

	if (!take(&c, 8) || memcmp(data, INDEX_MAGIC, 8) != 0)
		return -EBADMSG;
	did = get_str(&c, NULL);
	if (!did || strcmp(did, snap->diff_id) != 0)
		return -EBADMSG;
	while (c.left > 0 && !c.bad) {
		struct hoist_snapshot_entry se = {0};
		const unsigned char *h = take(&c, 2);
		if (!h)
			break;
		se.e.type = (enum hoist_entry_type)h[0];
		se.whiteout = h[1] & SNAP_INDEX_WHITEOUT;
		se.opaque = h[1] & SNAP_INDEX_OPAQUE;
		se.e.mode = get_u32(&c);
		se.e.uid = get_u32(&c);
		se.e.gid = get_u32(&c);
		se.e.mtime = (int64_t)get_u64(&c);
		se.e.size = get_u64(&c);
		se.e.devmajor = get_u32(&c);
		se.e.devminor = get_u32(&c);
		se.e.path = get_str(&c, NULL);
		se.e.linkname = get_str(&c, NULL);
		const unsigned char *nx = take(&c, 2);
		size_t n = nx ? (size_t)nx[0] | (size_t)nx[1] << 8 : 0;
		if (n > HOIST_TAR_MAX_XATTRS)
			c.bad = true;
		if (n && !c.bad) {
			se.e.xattrs = hoist_xcalloc(n, sizeof(*se.e.xattrs));
			se.e.n_xattrs = n;
			for (size_t i = 0; i < n; i++) {
				se.e.xattrs[i].name = get_str(&c, NULL);
				se.e.xattrs[i].value = get_str(&c, &se.e.xattrs[i].len);
			}
		}
		if (c.bad || !se.e.path || se.e.type > HOIST_ENTRY_FIFO) {
			hoist_entry_release(&se.e);
			return -EBADMSG;
		}
		if (snap->n_entries == alloc) {
			alloc = alloc ? alloc * 2 : 256;
			snap->entries =
			    hoist_xrealloc(snap->entries, alloc * sizeof(*snap->entries));
		}
		snap->entries[snap->n_entries++] = se;
	}
	return c.bad ? -EBADMSG : 0;
}

int hoist_snapshot_load(struct hoist_store *s, const char *diff_id, struct hoist_snapshot *ret,
			struct hoist_error *err)
{
	struct hoist_snapshot snap = {0};
	_cleanup_free_ char *rel = NULL, *data = NULL;
	size_t len;
	int rc;

	if (!hoist_digest_valid(diff_id))
		return hoist_error_set(err, -EINVAL, "bad digest '%s'", diff_id);
	int sfd = hoist_store_area_fd(s, HOIST_STORE_SNAPSHOTS, err);
	if (sfd < 0)
		return sfd;
	rel = hoist_xasprintf("%s/index", snap_digest_hex(diff_id));
	rc = hoist_read_file_at(sfd, rel, INDEX_MAX, &data, &len, err);
	if (rc < 0)
		return rc == -ENOENT
			   ? hoist_error_set(err, -ENOENT, "no snapshot for '%s'", diff_id)
			   : rc;
	snprintf(snap.diff_id, sizeof(snap.diff_id), "%s", diff_id);
	rc = parse_index(data, len, &snap);
	if (rc < 0) {
		hoist_snapshot_release(&snap);
		return hoist_error_set(err, rc, "snapshot index of '%s' is corrupt", diff_id);
	}
	_cleanup_free_ char *sub = hoist_xasprintf("%s/root", snap_digest_hex(diff_id));
	snap.root = hoist_store_area_path(s, HOIST_STORE_SNAPSHOTS, sub);
	*ret = snap;
	return 0;
}
