/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * OCI image documents: platforms, image configs (with Docker's extra config
 * fields Healthcheck, OnBuild, Shell, ArgsEscaped), manifests and indexes,
 * and the on-disk exchange formats: OCI image layout (dir or tar) and
 * docker-archive (`docker save` / `docker load`).
 */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "hoist/error.h"
#include "hoist/store.h"
#include "hoist/util.h"

#define HOIST_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define HOIST_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define HOIST_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define HOIST_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define HOIST_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define HOIST_MT_OCI_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define HOIST_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define HOIST_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define HOIST_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define HOIST_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* ---- platforms ------------------------------------------------------- */

struct hoist_platform {
	char os[32];	       /* "linux" */
	char architecture[32]; /* "amd64", "arm64", "arm", ... */
	char variant[16];      /* "v7", "v8" or "" */
};

/*
 * Parse "os/arch[/variant]" or "arch" with Docker's normalisation
 * (aarch64 -> arm64, armhf -> arm/v7, x86_64 -> amd64, arm64/v8 -> arm64,
 * arm -> arm/v7). -EINVAL on junk.
 */
int hoist_platform_parse(const char *s, struct hoist_platform *ret, struct hoist_error *err);
/*
 * hoist_platform_parse() for a platform a user names (--platform, FROM
 * --platform): after normalisation the OS and the architecture must be ones
 * Go knows (containerd's and so every image index's names), else -EINVAL
 * with the known ones and the closest listed, before anything is fetched
 * or run: "invalid platform 'linux/amd65': unknown architecture 'amd65'
 * (did you mean 'amd64'?); known architectures: 386, amd64, ...". Platforms
 * read from images and indexes keep the lenient hoist_platform_parse().
 */
int hoist_platform_parse_known(const char *s, struct hoist_platform *ret, struct hoist_error *err);
/* The platform of this machine. */
void hoist_platform_host(struct hoist_platform *ret);
/* "linux/arm/v7". Writes at most size bytes. */
void hoist_platform_format(const struct hoist_platform *p, char *buf, size_t size);
bool hoist_platform_equal(const struct hoist_platform *a, const struct hoist_platform *b);

/* ---- descriptors ----------------------------------------------------- */

struct hoist_descriptor {
	char media_type[128];
	char digest[HOIST_DIGEST_MAX];
	int64_t size;
};

/* ---- image ----------------------------------------------------------- */

/*
 * An image as the build engine manipulates it. `config` is the whole image
 * config JSON document (jansson, owned): architecture, os, variant, created,
 * author, config{Env,Cmd,Entrypoint,WorkingDir,User,Labels,ExposedPorts,
 * Volumes,StopSignal,Healthcheck,OnBuild,Shell,ArgsEscaped}, rootfs{type,
 * diff_ids}, history[]. `layers` are the compressed layer descriptors in
 * order, parallel to rootfs.diff_ids.
 */
struct hoist_image {
	json_t *config;
	struct hoist_descriptor *layers;
	size_t n_layers;
	char manifest_digest[HOIST_DIGEST_MAX]; /* when loaded from the store, else "" */
	char config_digest[HOIST_DIGEST_MAX];	/* idem */
};

void hoist_image_init(struct hoist_image *img);
void hoist_image_release(struct hoist_image *img);
/* Deep copy. */
void hoist_image_copy(struct hoist_image *dst, const struct hoist_image *src);

/*
 * Load the image a store digest names: a manifest directly, or an index
 * (picking the entry for `platform`, or the host platform when NULL; an
 * arm/vN request also accepts an older arm variant). Configs and manifests
 * are size-bounded and verified; layer blobs need not be in the store. *ret
 * must be zeroed or initialised: it is released and replaced on success.
 * -ENOENT when no entry matches the platform, or the entry that does was
 * not pulled (its manifest is not in the store).
 */
int hoist_image_load(struct hoist_store *s, const char *digest,
		     const struct hoist_platform *platform, struct hoist_image *ret,
		     struct hoist_error *err);

/*
 * The platforms an index in the store lists ("os/arch[/variant]", in index
 * order), split by whether the entry's manifest is in the store (pulled)
 * or not: what a "no manifest for this platform" message names. Returns 1
 * for an index (lists appended to the caller's vectors), 0 when `digest`
 * is not an index, < 0 when it cannot be read.
 */
struct hoist_strv;
int hoist_index_platforms(struct hoist_store *s, const char *digest, struct hoist_strv *ret_pulled,
			  struct hoist_strv *ret_absent, struct hoist_error *err);

/*
 * Write the image's config and an OCI manifest into the store; returns the
 * manifest descriptor. The JSON is canonical (sorted keys, compact), so
 * equal images give equal digests. Docker layer media types are written as
 * their OCI equivalents. (No manifest annotations are written.)
 */
int hoist_image_commit(struct hoist_store *s, const struct hoist_image *img,
		       struct hoist_descriptor *ret_manifest, struct hoist_error *err);

/* Append a layer (descriptor + diffID) and a history entry. */
void hoist_image_add_layer(struct hoist_image *img, const struct hoist_descriptor *layer,
			   const char *diff_id);
void hoist_image_add_history(struct hoist_image *img, const char *created, const char *created_by,
			     bool empty_layer);

/*
 * A JSON string of text that came from outside (a Dockerfile, a build arg, a
 * file name): bytes that are not valid UTF-8 become U+FFFD, one per byte,
 * as Go's encoding/json writes them for BuildKit. jansson's json_string()
 * returns NULL for such text, which made the value silently disappear.
 * Never NULL (aborts on OOM, as jansson's constructors).
 */
json_t *hoist_json_text(const char *s);

/* Dump canonical JSON (sorted keys, compact) into a new string. */
char *hoist_json_canonical(const json_t *j);

/* ---- exchange formats ------------------------------------------------ */

enum hoist_archive_format {
	HOIST_ARCHIVE_OCI_DIR,	  /* OCI image layout directory */
	HOIST_ARCHIVE_OCI_TAR,	  /* OCI image layout as a tar */
	HOIST_ARCHIVE_DOCKER_TAR, /* docker save format (manifest.json + repositories) */
};

/* One image to export: a manifest (or index) digest in the store and its names. */
struct hoist_export_item {
	char digest[HOIST_DIGEST_MAX];
	const char *const *names; /* NULL-terminated normalized refs, may be NULL */
};

/*
 * Export images from the store. dest is a directory (OCI_DIR, created when
 * missing, merged into when an index.json exists) or a file path ("-" for
 * stdout for the tar formats). The tar is written to a temp name and renamed.
 * index.json entries carry `io.containerd.image.name` (the full name) and
 * `org.opencontainers.image.ref.name` (the tag). DOCKER_TAR is the layout
 * Docker 25+ writes: the OCI layout plus manifest.json and repositories (an
 * index item contributes the manifest for the host platform to manifest.json).
 */
int hoist_oci_export(struct hoist_store *s, enum hoist_archive_format fmt, const char *dest,
		     const struct hoist_export_item *items, size_t n, struct hoist_error *err);

/*
 * Import an OCI layout (dir or tar) or a docker-archive tar into the store
 * (format detected). Every blob is verified; the names found are tagged
 * (refs in `ret_names`, NULL-terminated, hoist_strv_free()). An image that
 * carries no usable name (an OCI layout entry whose ref.name is only a tag)
 * is listed by its manifest digest ("sha256:...") instead. A docker-archive
 * (manifest.json) image is stored with a new OCI manifest; its uncompressed
 * layers are checked against the config's diffIDs.
 */
int hoist_oci_import(struct hoist_store *s, const char *src, char ***ret_names,
		     struct hoist_error *err);

/* ---- image indexes (multi-platform images; src/oci/index.c) ---------- */

enum hoist_index_format {
	HOIST_INDEX_OCI,    /* application/vnd.oci.image.index.v1+json */
	HOIST_INDEX_DOCKER, /* application/vnd.docker.distribution.manifest.list.v2+json */
};

/* Largest number of entries an index made here may have. */
#define HOIST_INDEX_MAX_ENTRIES 1024

/* One entry of an index: an image manifest and the platform it runs on. */
struct hoist_index_entry {
	struct hoist_descriptor desc; /* a manifest, not an index */
	struct hoist_platform platform;
	char os_version[64]; /* platform "os.version" (Windows), or "" */
};

/*
 * Read the platform an image config declares (os, architecture, variant,
 * os.version), normalised. -EBADMSG when os or architecture is missing.
 */
int hoist_index_config_platform(const json_t *config, struct hoist_platform *ret,
				char ret_os_version[64], struct hoist_error *err);

/*
 * Serialise an index of `n` entries (1 <= n <= HOIST_INDEX_MAX_ENTRIES) as
 * canonical JSON (sorted keys, compact). `annotations` is a NULL-terminated
 * list of "KEY=VALUE" strings (may be NULL), written as the index's
 * annotations; the Docker format has none, so they are -EINVAL there. Two
 * entries with the same platform are -EINVAL (which one should a client
 * pick?) unless they name the same digest, which is listed once. *ret_json
 * is a new string (caller frees); its media type is the format's.
 */
int hoist_index_build(const struct hoist_index_entry *entries, size_t n,
		      enum hoist_index_format fmt, const char *const *annotations, char **ret_json,
		      size_t *ret_len, struct hoist_error *err);

/* An image to put in an index made from the store. */
struct hoist_index_item {
	char digest[HOIST_DIGEST_MAX]; /* a manifest or an index in the store */
	/* The platform to record, or NULL to take it from the image config.
	 * Ignored for an index, whose entries keep their own platforms. */
	const struct hoist_platform *platform;
};

/*
 * Join images of the store into one index (what `hoist manifest create`
 * and a multi-platform `hoist build` call). Each item is a single-platform
 * manifest, whose platform is read from its config unless the item gives
 * one, or an index whose entries are copied (flattened) in order. The
 * manifests and configs must be in the store; layers need not be. The index
 * is written to the store (not tagged: the caller tags it, under the store
 * lock it already holds) and its descriptor returned in *ret. Arguments as
 * for hoist_index_build(). Nothing is taken over.
 */
int hoist_index_create(struct hoist_store *s, const struct hoist_index_item *items, size_t n,
		       enum hoist_index_format fmt, const char *const *annotations,
		       struct hoist_descriptor *ret, struct hoist_error *err);
