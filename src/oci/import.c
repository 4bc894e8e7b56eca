/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Importing images from an OCI image layout (directory or tar) or a
 * docker-archive (classic `docker save`, skopeo's docker-archive:, or
 * Docker 25+'s OCI-plus-manifest.json). Every blob is hashed on its way
 * into the store and checked against the digest that names it; archive
 * paths come through the layer module's tar reader, which rejects entries
 * that would escape. Names found in the archive are tagged.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/layer.h"
#include "hoist/ref.h"
#include "oci-private.h"

#define IMPORT_MAX_ENTRIES 100000

struct file {
	char *path;
	char *link; /* symlink or hardlink target (cleaned, archive-relative) or NULL */
	char digest[HOIST_DIGEST_MAX];
};

struct import {
	struct hoist_store *s;
	const char *src;
	int dirfd; /* OCI layout directory, or -1 for a tar */
	char *index_json;
	size_t index_len;
	char *manifest_json;
	size_t manifest_len;
	char *layout_json;
	size_t layout_len;
	struct file *files;
	size_t n_files;
	struct hoist_strv names;
	struct hoist_strv tag_digests; /* parallel to the names that are tags */
};

static void import_release(struct import *im)
{
	free(im->index_json);
	free(im->manifest_json);
	free(im->layout_json);
	for (size_t i = 0; i < im->n_files; i++) {
		free(im->files[i].path);
		free(im->files[i].link);
	}
	free(im->files);
	hoist_strv_release(&im->names);
	hoist_strv_release(&im->tag_digests);
}

static bool is_hex64(const char *s)
{
	size_t i;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == HOIST_SHA256_HEX;
}

static struct file *add_file(struct import *im, const char *path)
{
	im->files = hoist_xrealloc(im->files, (im->n_files + 1) * sizeof(*im->files));
	struct file *f = &im->files[im->n_files++];
	memset(f, 0, sizeof(*f));
	f->path = hoist_xstrdup(path);
	return f;
}

/* The digest of the file an archive path names, following links (bounded). */
static const char *lookup(struct import *im, const char *path)
{
	_cleanup_free_ char *cur = NULL;
	while (hoist_startswith(path, "./"))
		path += 2;
	cur = hoist_xstrdup(path);
	for (int hops = 0; hops < 8; hops++) {
		struct file *f = NULL;
		for (size_t i = 0; i < im->n_files; i++)
			if (!strcmp(im->files[i].path, cur))
				f = &im->files[i];
		if (!f)
			return NULL;
		if (!f->link)
			return f->digest;
		free(cur);
		cur = hoist_xstrdup(f->link);
	}
	return NULL;
}

/* Lexically resolve a symlink target against its directory; NULL when it escapes. */
static char *resolve_link(const char *path, const char *target)
{
	struct hoist_strv parts = HOIST_STRV_INIT;
	_cleanup_free_ char *joined = NULL;
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
	const char *slash = strrchr(path, '/');
	char *s, *save = NULL;

	if (target[0] == '/')
		return NULL;
	joined = slash ? hoist_xasprintf("%.*s/%s", (int)(slash - path), path, target)
		       : hoist_xstrdup(target);
	for (s = joined;; s = NULL) {
		char *tok = strtok_r(s, "/", &save);
		if (!tok)
			break;
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			if (!parts.n) {
				hoist_strv_release(&parts);
				return NULL;
			}
			free(parts.v[--parts.n]);
			parts.v[parts.n] = NULL;
			continue;
		}
		hoist_strv_push(&parts, tok);
	}
	for (size_t i = 0; i < parts.n; i++) {
		if (i)
			hoist_buf_addc(&b, '/');
		hoist_buf_adds(&b, parts.v[i]);
	}
	hoist_strv_release(&parts);
	return b.data ? hoist_buf_detach(&b, NULL) : hoist_xstrdup("");
}

static int read_meta(struct hoist_tar_reader *r, const struct hoist_entry *e, char **ret,
		     size_t *ret_len, struct hoist_error *err)
{
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
	char chunk[65536];

	hoist_buf_init(&b, OCI_MAX_META);
	for (;;) {
		ssize_t n = hoist_tar_reader_read(r, chunk, sizeof(chunk), err);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		if (hoist_buf_add(&b, chunk, (size_t)n) < 0)
			return hoist_error_set(err, -EFBIG, "entry '%s': larger than %zu bytes",
					       e->path, OCI_MAX_META);
	}
	free(*ret);
	*ret_len = b.len;
	*ret = b.data ? hoist_buf_detach(&b, NULL) : hoist_xstrdup("");
	return 0;
}

/* Which regular files of an archive are blobs worth storing. */
static bool wanted(const char *path)
{
	if (hoist_startswith(path, "blobs/"))
		return true;
	if (strchr(path, '/'))
		return hoist_endswith(path, "/layer.tar");
	return hoist_endswith(path, ".tar") || hoist_endswith(path, ".json") ||
	       hoist_endswith(path, ".tar.gz");
}

static int store_entry(struct import *im, struct hoist_tar_reader *r, const struct hoist_entry *e,
		       struct hoist_error *err)
{
	struct hoist_blob_writer *w = NULL;
	char expected[HOIST_DIGEST_MAX] = "";
	char got[HOIST_DIGEST_MAX];
	_cleanup_free_ char *buf = hoist_xmalloc(65536);
	int rc;

	if (hoist_startswith(e->path, "blobs/sha256/")) {
		const char *hex = e->path + strlen("blobs/sha256/");
		if (!is_hex64(hex))
			return hoist_error_set(err, -EBADMSG, "entry '%s': not a blob name",
					       e->path);
		snprintf(expected, sizeof(expected), "sha256:%s", hex);
	} else if (hoist_startswith(e->path, "blobs/")) {
		return 0; /* other digest algorithms: the store holds sha256 only */
	}
	rc = hoist_store_blob_begin(im->s, &w, err);
	if (rc < 0)
		return rc;
	for (;;) {
		ssize_t n = hoist_tar_reader_read(r, buf, 65536, err);
		if (n < 0) {
			hoist_blob_writer_abort(w);
			/* A truncated archive: say which blob it cut. */
			if (expected[0])
				return hoist_error_prefix(err, "blob '%s'", expected);
			return hoist_error_prefix(err, "entry '%s'", e->path);
		}
		if (n == 0)
			break;
		rc = hoist_blob_writer_write(w, buf, (size_t)n, err);
		if (rc < 0) {
			hoist_blob_writer_abort(w);
			return rc;
		}
	}
	rc = hoist_blob_writer_commit(w, expected[0] ? expected : NULL, got, err);
	if (rc == -EBADMSG)
		return hoist_error_set(err, rc,
				       "blob '%s' (entry '%s'): content does not match its digest",
				       expected, e->path);
	if (rc < 0)
		return rc;
	snprintf(add_file(im, e->path)->digest, HOIST_DIGEST_MAX, "%s", got);
	return 0;
}

static int scan_tar(struct import *im, struct hoist_error *err)
{
	_cleanup_close_ int fd = open(im->src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct hoist_tar_reader *r = NULL;
	struct hoist_entry e = {0};
	int rc;

	if (fd < 0)
		return hoist_error_set(err, -errno, "cannot open '%s': %s", im->src,
				       strerror(errno));
	rc = hoist_tar_reader_open(fd, im->src, &r, err);
	if (rc < 0)
		return rc;
	hoist_tar_reader_set_max_entries(r, IMPORT_MAX_ENTRIES);
	/* an archive holds every layer of its images: no per-layer cap (the
	 * ratio rule still holds, and each layer meets the cap when read) */
	hoist_tar_reader_set_max_size(r, 0);
	while ((rc = hoist_tar_reader_next(r, &e, err)) > 0) {
		if (e.type == HOIST_ENTRY_FILE) {
			if (!strcmp(e.path, "index.json"))
				rc = read_meta(r, &e, &im->index_json, &im->index_len, err);
			else if (!strcmp(e.path, "manifest.json"))
				rc = read_meta(r, &e, &im->manifest_json, &im->manifest_len, err);
			else if (!strcmp(e.path, "oci-layout"))
				rc = read_meta(r, &e, &im->layout_json, &im->layout_len, err);
			else if (wanted(e.path))
				rc = store_entry(im, r, &e, err);
		} else if (e.type == HOIST_ENTRY_SYMLINK) {
			char *t = resolve_link(e.path, e.linkname);
			if (t)
				add_file(im, e.path)->link = t;
		} else if (e.type == HOIST_ENTRY_HARDLINK) {
			add_file(im, e.path)->link = hoist_xstrdup(e.linkname);
		}
		if (rc < 0) {
			hoist_error_prefix(err, "'%s'", im->src);
			break;
		}
	}
	hoist_entry_release(&e);
	hoist_tar_reader_free(r);
	return rc;
}

/* Copy a blob of a layout directory into the store, verifying it. */
static int fetch_from_dir(struct import *im, const char *digest, struct hoist_error *err)
{
	_cleanup_free_ char *rel = hoist_xasprintf("blobs/sha256/%s", digest + 7);
	_cleanup_close_ int fd = -1;
	struct hoist_blob_writer *w = NULL;
	char buf[65536];
	int rc;

	if (hoist_store_blob_exists(im->s, digest))
		return 0;
	fd = openat(im->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return hoist_error_set(err, -errno, "'%s': blob '%s': %s", im->src, digest,
				       strerror(errno));
	rc = hoist_store_blob_begin(im->s, &w, err);
	if (rc < 0)
		return rc;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hoist_blob_writer_abort(w);
			return hoist_error_set(err, -errno, "'%s': reading blob '%s': %s", im->src,
					       digest, strerror(errno));
		}
		if (n == 0)
			break;
		rc = hoist_blob_writer_write(w, buf, (size_t)n, err);
		if (rc < 0) {
			hoist_blob_writer_abort(w);
			return rc;
		}
	}
	rc = hoist_blob_writer_commit(w, digest, NULL, err);
	if (rc == -EBADMSG)
		return hoist_error_set(err, rc, "'%s': blob '%s' does not match its digest",
				       im->src, digest);
	return rc;
}

static int need_blob(struct import *im, const char *digest, struct hoist_error *err)
{
	if (im->dirfd >= 0)
		return fetch_from_dir(im, digest, err);
	if (!hoist_store_blob_exists(im->s, digest))
		return hoist_error_set(err, -ENOENT, "'%s': blob '%s' is missing from the archive",
				       im->src, digest);
	return 0;
}

/* Make sure a manifest or index and everything it references is in the store. */
static int walk(struct import *im, const struct hoist_descriptor *d, int depth,
		struct hoist_error *err)
{
	json_t *doc = NULL, *arr, *x;
	struct hoist_descriptor c;
	size_t i;
	int rc;

	if ((rc = oci_check_depth(depth, d->digest, err)) < 0)
		return hoist_error_prefix(err, "'%s'", im->src);
	rc = need_blob(im, d->digest, err);
	if (rc < 0)
		return rc;
	rc = oci_load_json(im->s, d->digest, d->size, &doc, err);
	if (rc < 0)
		return rc;
	if (oci_is_index(doc)) {
		size_t complete = 0, n = json_array_size(json_object_get(doc, "manifests"));
		json_array_foreach(json_object_get(doc, "manifests"), i, x)
		{
			rc = oci_parse_descriptor(x, &c, "index entry", err);
			if (rc >= 0)
				rc = walk(im, &c, depth + 1, err);
			/*
			 * Docker's containerd store saves a multi-platform index with
			 * only the local platform's content: a platform whose manifest
			 * is wholly absent is skipped, a partial one is an error.
			 */
			if (rc == -ENOENT && !hoist_store_blob_exists(im->s, c.digest)) {
				rc = 0;
				continue;
			}
			if (rc < 0)
				break;
			complete++;
		}
		if (rc >= 0 && n > 0 && complete == 0)
			rc = hoist_error_set(err, -ENOENT, "'%s': index '%s' has no complete image",
					     im->src, d->digest);
	} else {
		rc = oci_parse_descriptor(json_object_get(doc, "config"), &c, "config", err);
		if (rc >= 0)
			rc = need_blob(im, c.digest, err);
		if (rc >= 0 && (rc = oci_check_blob_size(im->s, &c, "config", err)) < 0)
			hoist_error_prefix(err, "'%s': manifest '%s'", im->src, d->digest);
		if (rc >= 0) {
			json_t *cfg = NULL;
			/* bounded and well-formed now, not when first used */
			if ((rc = oci_load_json(im->s, c.digest, c.size, &cfg, err)) < 0)
				hoist_error_prefix(err, "'%s': config", im->src);
			json_decref(cfg);
		}
		arr = json_object_get(doc, "layers");
		if (rc >= 0 && !json_is_array(arr))
			rc = hoist_error_set(err, -EBADMSG, "manifest '%s' has no layers",
					     d->digest);
		if (rc >= 0 &&
		    (rc = oci_check_layer_count(json_array_size(arr), d->digest, err)) < 0)
			hoist_error_prefix(err, "'%s': manifest", im->src);
		json_array_foreach(arr, i, x)
		{
			if (rc < 0)
				break;
			rc = oci_parse_descriptor(x, &c, "layer", err);
			if (rc < 0)
				break;
			if (strstr(c.media_type, "foreign") ||
			    strstr(c.media_type, "nondistributable"))
				continue;
			rc = need_blob(im, c.digest, err);
			if (rc >= 0 && (rc = oci_check_blob_size(im->s, &c, "layer", err)) < 0)
				hoist_error_prefix(err, "'%s': manifest '%s'", im->src, d->digest);
		}
	}
	json_decref(doc);
	return rc;
}

static int tag_name(struct import *im, const char *name, const char *digest,
		    struct hoist_error *err)
{
	struct hoist_ref ref = {0};
	_cleanup_free_ char *full = NULL;
	int rc = hoist_ref_parse(name, &ref, err);

	if (rc < 0)
		return hoist_error_prefix(err, "'%s': image name", im->src);
	if (!ref.tag) {
		hoist_ref_release(&ref);
		return 0;
	}
	full = hoist_ref_string(&ref);
	hoist_ref_release(&ref);
	for (size_t i = 0; i < im->names.n; i++)
		if (!strcmp(im->names.v[i], full))
			return 0;
	/* Tagged by tag_all() once every image is complete. */
	hoist_strv_push(&im->names, full);
	hoist_strv_push(&im->tag_digests, digest);
	return 1;
}

/*
 * The tags, set only after every image of the archive was walked and
 * verified: a corrupt or truncated archive tags nothing, not the images
 * that happened to come before the damage.
 */
static int tag_all(struct import *im, struct hoist_error *err)
{
	size_t t = 0;
	for (size_t i = 0; i < im->names.n; i++) {
		if (hoist_startswith(im->names.v[i], "sha256:"))
			continue;
		int rc = hoist_store_tag_set(im->s, im->names.v[i], im->tag_digests.v[t++], err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int import_oci(struct import *im, struct hoist_error *err)
{
	json_error_t jerr;
	json_t *idx, *ms, *d;
	size_t i;
	int rc = 0;

	if (im->layout_json) {
		json_t *l = json_loadb(im->layout_json, im->layout_len, 0, &jerr);
		const char *v = json_string_value(json_object_get(l, "imageLayoutVersion"));
		bool ok = v && !strcmp(v, "1.0.0");
		json_decref(l);
		if (!ok)
			return hoist_error_set(err, -EBADMSG,
					       "'%s': unsupported oci-layout version", im->src);
	}
	idx = json_loadb(im->index_json, im->index_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!idx)
		return hoist_error_set(err, -EBADMSG, "'%s': index.json: %s", im->src, jerr.text);
	ms = json_object_get(idx, "manifests");
	if (!json_is_array(ms) || json_array_size(ms) > OCI_MAX_ITEMS) {
		json_decref(idx);
		return hoist_error_set(err, -EBADMSG, "'%s': index.json has no manifests list",
				       im->src);
	}
	json_array_foreach(ms, i, d)
	{
		struct hoist_descriptor desc;
		json_t *ann = json_object_get(d, "annotations");
		const char *cname =
		    json_string_value(json_object_get(ann, "io.containerd.image.name"));
		const char *rname =
		    json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
		int tagged = 0;

		rc = oci_parse_descriptor(d, &desc, "index.json entry", err);
		if (rc >= 0)
			rc = walk(im, &desc, 0, err);
		if (rc < 0)
			break;
		if (cname)
			rc = tag_name(im, cname, desc.digest, err);
		/* ref.name is a whole reference for some writers, only a tag for others. */
		else if (rname && strpbrk(rname, "/:@"))
			rc = tag_name(im, rname, desc.digest, err);
		if (rc < 0)
			break;
		tagged = rc;
		if (!tagged && !cname && !(rname && strpbrk(rname, "/:@")))
			hoist_strv_push(&im->names, desc.digest);
		rc = 0;
	}
	json_decref(idx);
	return rc;
}

static const char *sniff_layer(struct import *im, const char *digest)
{
	_cleanup_close_ int fd = hoist_store_blob_open(im->s, digest, NULL);
	unsigned char m[4] = {0};
	if (fd < 0 || read(fd, m, 4) < 2)
		return HOIST_MT_OCI_LAYER_TAR;
	if (m[0] == 0x1f && m[1] == 0x8b)
		return HOIST_MT_OCI_LAYER_GZIP;
	if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
		return HOIST_MT_OCI_LAYER_ZSTD;
	return HOIST_MT_OCI_LAYER_TAR;
}

static int import_docker_entry(struct import *im, json_t *ent, struct hoist_error *err)
{
	const char *cpath = json_string_value(json_object_get(ent, "Config"));
	json_t *layers = json_object_get(ent, "Layers");
	json_t *tags = json_object_get(ent, "RepoTags");
	json_t *cfg = NULL, *m = NULL, *ls, *ids, *x;
	const char *cdigest;
	char mdigest[HOIST_DIGEST_MAX];
	_cleanup_free_ char *man = NULL;
	size_t i;
	int rc;

	if (!cpath || !json_is_array(layers))
		return hoist_error_set(err, -EBADMSG, "'%s': manifest.json: entry without Config",
				       im->src);
	if ((rc = oci_check_layer_count(json_array_size(layers), "manifest.json", err)) < 0)
		return hoist_error_prefix(err, "'%s'", im->src);
	cdigest = lookup(im, cpath);
	if (!cdigest)
		return hoist_error_set(err, -EBADMSG, "'%s': manifest.json: '%s' not in archive",
				       im->src, cpath);
	/* Classic archives name the config "<hex>.json": check that too. */
	if (strlen(cpath) == HOIST_SHA256_HEX + 5 && hoist_endswith(cpath, ".json") &&
	    strncmp(cpath, cdigest + 7, HOIST_SHA256_HEX) != 0)
		return hoist_error_set(err, -EBADMSG, "'%s': config '%s' does not match its digest",
				       im->src, cpath);
	rc = oci_load_json(im->s, cdigest, -1, &cfg, err);
	if (rc < 0)
		return rc;
	ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	if (!json_is_array(ids) || json_array_size(ids) != json_array_size(layers)) {
		json_decref(cfg);
		return hoist_error_set(err, -EBADMSG,
				       "'%s': config has %zu diff_ids for %zu layers", im->src,
				       json_array_size(ids), json_array_size(layers));
	}
	m = json_object();
	json_object_set_new(m, "schemaVersion", json_integer(2));
	json_object_set_new(m, "mediaType", json_string(HOIST_MT_OCI_MANIFEST));
	json_object_set_new(m, "config",
			    json_pack("{s:s,s:s,s:I}", "mediaType", HOIST_MT_OCI_CONFIG, "digest",
				      cdigest, "size",
				      (json_int_t)hoist_store_blob_size(im->s, cdigest)));
	ls = json_array();
	json_object_set_new(m, "layers", ls);
	json_array_foreach(layers, i, x)
	{
		const char *lp = json_string_value(x);
		const char *ld = lp ? lookup(im, lp) : NULL;
		const char *mt;
		if (!ld) {
			rc = hoist_error_set(err, -EBADMSG, "'%s': layer '%s' not in archive",
					     im->src, lp ? lp : "?");
			goto out;
		}
		if (hoist_store_blob_size(im->s, ld) == 0) {
			rc = hoist_error_set(err, -EBADMSG,
					     "'%s': layer '%s' is empty (0 bytes): "
					     "not a layer",
					     im->src, lp);
			goto out;
		}
		mt = sniff_layer(im, ld);
		/* An uncompressed layer's digest is its diffID: a free verification. */
		const char *want = json_string_value(json_array_get(ids, i));
		if (!strcmp(mt, HOIST_MT_OCI_LAYER_TAR) && (!want || strcmp(ld, want) != 0)) {
			rc = hoist_error_set(err, -EBADMSG,
					     "'%s': layer '%s' does not match the config's diffID",
					     im->src, lp);
			goto out;
		}
		json_array_append_new(ls, json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", ld,
						    "size",
						    (json_int_t)hoist_store_blob_size(im->s, ld)));
	}
	man = hoist_json_canonical(m);
	rc = hoist_store_blob_put(im->s, man, strlen(man), mdigest, err);
	if (rc < 0)
		goto out;
	bool named = false;
	json_array_foreach(tags, i, x)
	{
		if (!json_is_string(x))
			continue;
		rc = tag_name(im, json_string_value(x), mdigest, err);
		if (rc < 0)
			goto out;
		named = true;
	}
	if (!named)
		hoist_strv_push(&im->names, mdigest);
	rc = 0;
out:
	json_decref(m);
	json_decref(cfg);
	return rc;
}

static int import_docker(struct import *im, struct hoist_error *err)
{
	json_error_t jerr;
	json_t *man = json_loadb(im->manifest_json, im->manifest_len, 0, &jerr), *e;
	size_t i;
	int rc = 0;

	if (!json_is_array(man) || json_array_size(man) > OCI_MAX_ITEMS) {
		json_decref(man);
		return hoist_error_set(err, -EBADMSG, "'%s': manifest.json is not a list", im->src);
	}
	json_array_foreach(man, i, e)
	{
		rc = import_docker_entry(im, e, err);
		if (rc < 0)
			break;
	}
	json_decref(man);
	return rc;
}

static int oci_import_locked(struct hoist_store *s, const char *src, char ***ret_names,
			     struct hoist_error *err)
{
	struct import im = {.s = s, .src = src, .dirfd = -1};
	struct stat st;
	int rc;

	if (stat(src, &st) < 0)
		return hoist_error_set(err, -errno, "cannot open '%s': %s", src, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		im.dirfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (im.dirfd < 0)
			return hoist_error_set(err, -errno, "cannot open '%s': %s", src,
					       strerror(errno));
		rc = hoist_read_file_at(im.dirfd, "index.json", OCI_MAX_META, &im.index_json,
					&im.index_len, err);
		if (rc >= 0 && hoist_read_file_at(im.dirfd, "oci-layout", OCI_MAX_META,
						  &im.layout_json, &im.layout_len, NULL) < 0)
			im.layout_json = NULL;
		if (rc < 0)
			hoist_error_set(err, rc, "'%s': not an OCI image layout (no index.json)",
					src);
	} else {
		rc = scan_tar(&im, err);
		if (rc >= 0 && !im.index_json && !im.manifest_json)
			rc = hoist_error_set(err, -EBADMSG,
					     "'%s': not an OCI layout or docker archive (no "
					     "index.json or manifest.json)",
					     src);
	}
	if (rc >= 0)
		rc = im.index_json ? import_oci(&im, err) : import_docker(&im, err);
	if (rc >= 0)
		rc = tag_all(&im, err);
	if (rc >= 0 && ret_names) {
		hoist_strv_push(&im.names, ""); /* ensure v is allocated */
		free(im.names.v[--im.names.n]);
		im.names.v[im.names.n] = NULL;
		*ret_names = im.names.v;
		im.names.v = NULL;
		im.names.n = 0;
	}
	if (im.dirfd >= 0)
		close(im.dirfd);
	import_release(&im);
	return rc;
}

/* Blobs are unreferenced until the names are tagged: hold gc off meanwhile, as build does. */
int hoist_oci_import(struct hoist_store *s, const char *src, char ***ret_names,
		     struct hoist_error *err)
{
	int r = hoist_store_lock(s, false, err);
	if (r < 0)
		return r;
	r = oci_import_locked(s, src, ret_names, err);
	hoist_store_unlock(s);
	return r;
}
