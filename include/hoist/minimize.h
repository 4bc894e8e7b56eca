/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Minimize: the shared-library closure of an image's programs, computed by
 * reading ELF headers (never by running ldd, so foreign architectures need
 * no emulation), and the production image made from it: a clean base plus
 * one layer holding the closure, the named directories and extra files,
 * minus what the base already provides identically.
 *
 * Three layers of API:
 *   - the ELF reader (hoist_minimize_elf_parse), bounded for untrusted input;
 *   - a read-only merged view of an image's filesystem (struct
 *     hoist_minimize_tree: layer snapshots with whiteouts applied, symlinks
 *     resolved inside the image root, never the host's) and the closure
 *     over it (hoist_minimize_closure), following glibc's ld.so search order;
 *   - the whole workflow (hoist_minimize_run), which `hoist minimize` and
 *     the chain workflow call.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/error.h"
#include "hoist/layer.h"
#include "hoist/oci.h"
#include "hoist/store.h"
#include "hoist/util.h"

/* ---- ELF ------------------------------------------------------------- */

/* Limits on untrusted ELF input. */
#define HOIST_ELF_MAX_NEEDED 1024 /* DT_NEEDED entries per object */
#define HOIST_ELF_MAX_PHDRS 4096  /* program headers */
#define HOIST_ELF_MAX_SHDRS 65535 /* section headers */
#define HOIST_ELF_MAX_STRING 4096 /* one dynamic string / interpreter path */
#define HOIST_ELF_MAX_DYN 65536	  /* entries of the dynamic section */

struct hoist_elf_info {
	uint8_t elf_class; /* 1 ELFCLASS32, 2 ELFCLASS64 */
	uint8_t data;	   /* 1 little endian, 2 big endian */
	uint8_t osabi;
	uint16_t type;		  /* ET_EXEC, ET_DYN, ... */
	uint16_t machine;	  /* EM_* */
	uint32_t flags;		  /* e_flags (ARM float ABI, MIPS ABI, ...) */
	bool dynamic;		  /* has a dynamic section */
	char *interp;		  /* PT_INTERP, or NULL */
	char *soname;		  /* DT_SONAME, or NULL */
	char *rpath;		  /* DT_RPATH (colon list), or NULL */
	char *runpath;		  /* DT_RUNPATH, or NULL */
	struct hoist_strv needed; /* DT_NEEDED in order */
};

/*
 * Parse an ELF image held in memory (any class, byte order and machine).
 * Every offset and size is checked against len; the dynamic section is
 * found through PT_DYNAMIC (its strings through DT_STRTAB mapped by the
 * PT_LOAD segments) and, failing that, through the section headers
 * (SHT_DYNAMIC and its sh_link string table). -ENOEXEC when data is not
 * ELF, -EBADMSG with a message when it is malformed. *ret is filled only on
 * success; free it with hoist_minimize_elf_release(). name is for messages.
 */
int hoist_minimize_elf_parse(const void *data, size_t len, const char *name,
			     struct hoist_elf_info *ret, struct hoist_error *err);
void hoist_minimize_elf_release(struct hoist_elf_info *info);

/* Is the library `lib` loadable by `obj` (same class, byte order, machine, float ABI)? */
bool hoist_minimize_elf_compatible(const struct hoist_elf_info *obj,
				   const struct hoist_elf_info *lib);

/*
 * The multiarch triplets of an object's ABI, most specific first
 * ("x86_64-linux-gnu"; "arm-linux-gnueabihf" for hard-float 32-bit ARM),
 * NULL-terminated static strings; an empty list for unknown machines.
 */
const char *const *hoist_minimize_elf_triplets(const struct hoist_elf_info *info);

/* ---- the merged filesystem of an image ------------------------------- */

struct hoist_minimize_tree;

/*
 * The merged, read-only view of an image: each layer unpacked as a
 * snapshot index (hoist_snapshot_index; files are unpacked on first open;
 * blobs must be in the store), applied
 * bottom first with whiteouts and opaque directories. *ret is new
 * (hoist_minimize_tree_free()).
 */
int hoist_minimize_tree_from_image(struct hoist_store *s, const struct hoist_image *img,
				   struct hoist_minimize_tree **ret, struct hoist_error *err);
/*
 * The same view of a directory on the host (tests, and a rootfs on disk):
 * entries are read with lstat and never followed.
 */
int hoist_minimize_tree_from_dir(const char *dir, struct hoist_minimize_tree **ret,
				 struct hoist_error *err);
void hoist_minimize_tree_free(struct hoist_minimize_tree *t);

/* ---- closure --------------------------------------------------------- */

enum hoist_minimize_kind {
	HOIST_MINIMIZE_ROOT,	/* a program or library the closure started from */
	HOIST_MINIMIZE_INTERP,	/* a PT_INTERP dynamic loader */
	HOIST_MINIMIZE_LIBRARY, /* a resolved DT_NEEDED */
	HOIST_MINIMIZE_SYMLINK, /* a symlink on the way to one of the above */
};

struct hoist_minimize_file {
	char *path; /* absolute, physical (no symlink in its directories) */
	enum hoist_minimize_kind kind;
	char *needed_as; /* LIBRARY/INTERP: the name asked for, else NULL */
	char *needed_by; /* LIBRARY/INTERP: the first object that asked, else NULL */
};

struct hoist_minimize_closure {
	struct hoist_minimize_file *files; /* in discovery order, each path once */
	size_t n;
	struct hoist_strv missing; /* "'libfoo.so.1' needed by '/x'" per missing library */
};

enum hoist_minimize_flags {
	HOIST_MINIMIZE_ALLOW_MISSING = 1 << 0, /* list missing libraries instead of failing */
};

/*
 * The closure of `roots` (absolute paths in the tree; non-ELF files and
 * static programs contribute themselves only) as glibc's ld.so would load
 * it: DT_RPATH of the object and its loaders (when it has no DT_RUNPATH),
 * DT_RUNPATH, the image's /etc/ld.so.conf (with include globs), then the
 * default directories (multiarch triplets, lib64/lib32, /lib, /usr/lib),
 * with $ORIGIN, $LIB and $PLATFORM expanded; a candidate of another ABI is
 * passed over as ld.so does. Already-loaded sonames satisfy later requests.
 * A root that is missing is -ENOENT; an unresolvable DT_NEEDED is -ENOENT
 * "'libfoo.so.1' needed by '/usr/local/bin/app' not found in the image"
 * unless HOIST_MINIMIZE_ALLOW_MISSING. *ret is filled on success (release
 * with hoist_minimize_closure_release()).
 */
int hoist_minimize_closure(struct hoist_minimize_tree *t, const char *const *roots, size_t n_roots,
			   unsigned flags, struct hoist_minimize_closure *ret,
			   struct hoist_error *err);
void hoist_minimize_closure_release(struct hoist_minimize_closure *c);

/* ---- the production image -------------------------------------------- */

struct hoist_minimize_opts {
	const char *image; /* the built image: name or digest in the store */
	const char *base;  /* the production base: name or digest in the store */
	const char *tag;   /* name for the result, or NULL (digest only) */
	const struct hoist_platform *platform; /* pick from an index; NULL: the host's */
	const char *const *paths;	       /* extra directories to copy and scan (absolute) */
	size_t n_paths;
	const char *const *files; /* extra files or directories to copy (absolute) */
	size_t n_files;
	bool no_default_paths;	    /* skip /usr/local/{lib,include,bin}, /opt/venv, ... */
	const char *const *install; /* packages to install with the base's package manager */
	size_t n_install;
	unsigned flags;		       /* enum hoist_minimize_flags */
	bool prefer_base_libs;	       /* skip closure libraries whose path the base has at all */
	struct hoist_layer_opts layer; /* for the minimized layer */
	/* Progress of the --install RUN: its output goes to these fds (-1: inherit). */
	int stdout_fd, stderr_fd;
};

void hoist_minimize_opts_init(struct hoist_minimize_opts *o);

struct hoist_minimize_result {
	char digest[HOIST_DIGEST_MAX]; /* manifest of the production image */
	struct hoist_minimize_closure closure;
	uint64_t source_bytes;	   /* regular-file bytes of the source image's merged view */
	uint64_t source_layers;	   /* compressed layer bytes of the source image */
	uint64_t production_bytes; /* idem for the production image */
	uint64_t production_layers;
	uint64_t added_files;	    /* entries written to the minimized layer */
	uint64_t skipped_identical; /* entries the base already had identically */
};

void hoist_minimize_result_release(struct hoist_minimize_result *r);

/*
 * The whole workflow: load both images, compute the copied set (default
 * directories unless no_default_paths, paths, files; globs matched in the
 * image) and the closure of every ELF file in it, write one layer with what
 * the base does not already hold identically (content read from the
 * snapshots), add it to the base with a history entry, optionally run the
 * base's package manager (apt-get or apk) in the sandbox as one more layer,
 * commit, and tag. The runtime config (Env, Cmd, Entrypoint, WorkingDir,
 * User, ...) is the source image's; rootfs and history are the base's plus
 * the new layers. Holds the store lock shared while writing. The process
 * must be single-threaded (the sandbox forks). *ret is filled on success
 * (hoist_minimize_result_release()).
 */
int hoist_minimize_run(struct hoist_store *s, const struct hoist_minimize_opts *opts,
		       struct hoist_minimize_result *ret, struct hoist_error *err);
