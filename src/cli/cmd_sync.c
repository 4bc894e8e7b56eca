/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist sync SRC... --to DEST: copy images, every platform, between
 * registries, OCI layouts and archives, to fill an air-gapped registry or
 * carry images across the gap. The store is the staging area: sources come
 * in through the verifying paths (pull, import), so every blob is checked
 * against its digest on the way; destinations get the exact bytes (push
 * HEADs every blob first and sends only the missing ones), so digests are
 * kept and checked after each push.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hoist/oci.h"
#include "hoist/ref.h"
#include "hoist/registry.h"
#include "hoist/store.h"
#include "hoist/util.h"

enum kind { K_REGISTRY, K_OCI_DIR, K_OCI_ARCHIVE, K_DOCKER_ARCHIVE, K_YAML };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist sync [OPTIONS] SRC... --to DEST\n\n"
		"Copy images with every platform, digests unchanged, through the store.\n\n"
		"SRC:  REF or docker://REF        an image in a registry (all platforms)\n"
		"      oci:DIR                    every image of an OCI layout directory\n"
		"      oci-archive:FILE           every image of an OCI layout tar\n"
		"      docker-archive:FILE        every image of a docker save tar\n"
		"      yaml:FILE                  the images of a skopeo sync YAML list\n"
		"DEST: docker://HOST[/PREFIX]     push each as HOST/PREFIX/<repository>:<tag>\n"
		"                                 (docker.io/library/debian:12 ->\n"
		"                                 HOST/PREFIX/library/debian:12)\n"
		"      oci:DIR                    an OCI layout directory (merged)\n"
		"      oci-archive:FILE           one OCI layout tar with every image\n\n"
		"Options:\n"
		"  --to DEST                 where to copy to (required)\n"
		"%s"
		"  -h, --help                print this help\n",
		cli_registry_options_help());
}

static const char *split_kind(const char *s, enum kind *k)
{
	static const struct {
		const char *prefix;
		enum kind kind;
	} kinds[] = {{"docker://", K_REGISTRY},
		     {"oci:", K_OCI_DIR},
		     {"oci-archive:", K_OCI_ARCHIVE},
		     {"docker-archive:", K_DOCKER_ARCHIVE},
		     {"yaml:", K_YAML}};
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (hoist_startswith(s, kinds[i].prefix)) {
			*k = kinds[i].kind;
			return s + strlen(kinds[i].prefix);
		}
	*k = K_REGISTRY;
	return s;
}

/* One image staged in the store: its normalized name (or NULL) and digest. */
struct staged {
	char *name;
	char digest[HOIST_DIGEST_MAX];
};

static void staged_add(struct staged **v, size_t *n, const char *name, const char *digest)
{
	*v = hoist_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].name = name ? hoist_xstrdup(name) : NULL;
	snprintf((*v)[*n].digest, HOIST_DIGEST_MAX, "%s", digest);
	++*n;
}

/* Bring one SRC into the store (verified), adding what it held to v. */
static int stage(struct hoist_store *s, const struct hoist_registry_opts *opts, const char *src,
		 struct staged **v, size_t *n, struct hoist_error *err)
{
	enum kind k;
	const char *what = split_kind(src, &k);
	int r;

	if (k == K_REGISTRY) {
		struct hoist_pull_result res;
		struct hoist_ref rf;
		r = hoist_registry_pull(s, opts, what, NULL, &res, err);
		if (r < 0)
			return r;
		if (hoist_ref_parse(what, &rf, err) < 0)
			return -EINVAL;
		_cleanup_free_ char *name = hoist_ref_string(&rf);
		hoist_ref_release(&rf);
		staged_add(v, n, name, res.digest);
		return 0;
	}
	char **names = NULL;
	r = hoist_oci_import(s, what, &names, err);
	if (r < 0)
		return hoist_error_prefix(err, "nothing was copied");
	for (char **p = names; p && *p; p++) {
		char dg[HOIST_DIGEST_MAX];
		if (hoist_startswith(*p, "sha256:"))
			staged_add(v, n, NULL, *p);
		else if (hoist_store_tag_get(s, *p, dg, err) == 0)
			staged_add(v, n, *p, dg);
	}
	hoist_strv_free(names);
	return 0;
}

/*
 * A yaml:FILE source, read before the options are final: the hosts of its
 * `tls-verify: false` registries join --insecure-registry.
 */
static int read_list(struct cli_registry *reg, const char *file, struct hoist_synclist *ret,
		     struct hoist_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r = hoist_read_file_at(AT_FDCWD, file, HOIST_SYNCLIST_MAX_SIZE, &data, &len, err);
	if (r < 0)
		return hoist_error_prefix(err, "reading sync list '%s'", file);
	r = hoist_synclist_parse(data, len, file, ret, err);
	for (size_t i = 0; r >= 0 && i < ret->n; i++) {
		struct hoist_ref rf = {0};
		if (!ret->v[i].insecure || hoist_ref_parse(ret->v[i].repo, &rf, NULL) < 0)
			continue;
		hoist_strv_push(&reg->insecure, rf.domain);
		hoist_ref_release(&rf);
	}
	return r;
}

static void lists_free(struct hoist_synclist *lists, size_t n)
{
	for (size_t i = 0; i < n; i++)
		hoist_synclist_release(&lists[i]);
	free(lists);
}

/* Every image a sync list names, each staged as a registry source. */
static int stage_list(struct hoist_store *s, const struct hoist_registry_opts *opts,
		      const char *file, const struct hoist_synclist *l, struct staged **v,
		      size_t *n, struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv refs = HOIST_STRV_INIT;
	int r = hoist_synclist_expand(opts, l, file, &refs, err);
	for (size_t i = 0; r >= 0 && i < refs.n; i++)
		r = stage(s, opts, refs.v[i], v, n, err);
	return r;
}

/* HOST/PREFIX + the image's repository path (no registry host) + tag. */
static char *dest_ref(const char *base, const char *name, struct hoist_error *err)
{
	struct hoist_ref rf;
	if (hoist_ref_parse(name, &rf, err) < 0)
		return NULL;
	char *ref = rf.tag ? hoist_xasprintf("%s/%s:%s", base, rf.path, rf.tag)
			   : hoist_xasprintf("%s/%s@%s", base, rf.path, rf.digest);
	hoist_ref_release(&rf);
	return ref;
}

static int push_all(struct hoist_store *s, const struct hoist_registry_opts *opts, const char *base,
		    const struct staged *v, size_t n, struct hoist_error *err)
{
	/* Every platform of every index is here before anything is pushed: an
	 * archive may leave a platform out (import takes that, as Docker's
	 * containerd store writes such indexes), a sync must not push it half. */
	for (size_t i = 0; i < n; i++) {
		_cleanup_strv_ struct hoist_strv have = HOIST_STRV_INIT, absent = HOIST_STRV_INIT;
		int r = hoist_index_platforms(s, v[i].digest, &have, &absent, err);
		if (r < 0)
			return r;
		if (absent.n)
			return hoist_error_set(err, -ENOENT,
					       "'%s' (%s): platform %s of the index is missing, "
					       "nothing was pushed",
					       v[i].name ? v[i].name : v[i].digest, v[i].digest,
					       absent.v[0]);
	}
	for (size_t i = 0; i < n; i++) {
		char pushed[HOIST_DIGEST_MAX];
		if (!v[i].name)
			return hoist_error_set(
			    err, -EINVAL, "image '%s' has no name to push it under", v[i].digest);
		_cleanup_free_ char *ref = dest_ref(base, v[i].name, err);
		if (!ref)
			return -EINVAL;
		int r = hoist_registry_push(s, opts, v[i].digest, ref, pushed, err);
		if (r < 0)
			return r;
		if (strcmp(pushed, v[i].digest) != 0)
			return hoist_error_set(err, -EBADMSG,
					       "'%s' was pushed as '%s', not as its digest '%s'",
					       ref, pushed, v[i].digest);
		printf("%s %s -> %s\n", v[i].digest, v[i].name, ref);
	}
	return 0;
}

static int export_all(struct hoist_store *s, enum kind k, const char *dest, const struct staged *v,
		      size_t n, struct hoist_error *err)
{
	struct hoist_export_item *items = hoist_xcalloc(n ? n : 1, sizeof(*items));
	const char **names = hoist_xcalloc(n ? 2 * n : 1, sizeof(*names));
	for (size_t i = 0; i < n; i++) {
		snprintf(items[i].digest, sizeof(items[i].digest), "%s", v[i].digest);
		names[2 * i] = v[i].name; /* NULL-terminated list of one name, or empty */
		items[i].names = v[i].name ? &names[2 * i] : NULL;
	}
	int r = hoist_oci_export(s, k == K_OCI_DIR ? HOIST_ARCHIVE_OCI_DIR : HOIST_ARCHIVE_OCI_TAR,
				 dest, items, n, err);
	for (size_t i = 0; r >= 0 && i < n; i++)
		printf("%s %s -> %s\n", v[i].digest, v[i].name ? v[i].name : "(no name)", dest);
	free(items);
	free(names);
	return r;
}

int cmd_sync(int argc, char **argv)
{
	struct cli_registry reg __attribute__((cleanup(cli_registry_release)));
	_cleanup_strv_ struct hoist_strv srcs = HOIST_STRV_INIT;
	struct hoist_error err = {0};
	struct staged *v = NULL;
	size_t n = 0;
	const char *to = NULL;
	int r = 0;

	cli_registry_init(&reg);
	reg.progress_mode = "quiet";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		if (cli_is_help(a)) {
			usage(stdout);
			return HOIST_EXIT_OK;
		}
		r = cli_opt_value(argc, argv, &i, "--to", NULL, &val);
		if (r < 0)
			return cli_usage_error("sync", "option '--to' needs a value");
		if (r > 0) {
			to = val;
			continue;
		}
		r = cli_registry_arg(&reg, "sync", argc, argv, &i);
		if (r < 0)
			return HOIST_EXIT_USAGE;
		if (r > 0)
			continue;
		if (a[0] == '-' && a[1])
			return cli_usage_error("sync", "unknown option '%s'", a);
		hoist_strv_push(&srcs, a);
	}
	if (!to)
		return cli_usage_error("sync", "missing --to DEST");
	if (!srcs.n)
		return cli_usage_error("sync", "nothing to copy: give at least one SRC");
	enum kind dk;
	const char *dest = split_kind(to, &dk);
	if (dk == K_YAML)
		return cli_usage_error("sync", "yaml: is a source only");
	if (dk == K_DOCKER_ARCHIVE)
		return cli_usage_error("sync", "docker-archive: is a source only (it keeps one "
					       "platform); write oci-archive:FILE");
	if (dk == K_REGISTRY && !hoist_startswith(to, "docker://"))
		return cli_usage_error("sync", "DEST must say its kind: docker://HOST[/PREFIX], "
					       "oci:DIR or oci-archive:FILE");

	struct hoist_synclist *lists = hoist_xcalloc(srcs.n, sizeof(*lists));
	for (size_t i = 0; r >= 0 && i < srcs.n; i++) {
		enum kind sk;
		const char *file = split_kind(srcs.v[i], &sk);
		if (sk == K_YAML)
			r = read_list(&reg, file, &lists[i], &err);
	}
	struct hoist_store *s = r >= 0 ? cli_registry_store_open() : NULL;
	if (!s) {
		lists_free(lists, srcs.n);
		return r < 0 ? cli_fail(&err) : HOIST_EXIT_FAIL; /* the store's error is printed */
	}
	reg.opts.all_platforms = true;
	const struct hoist_registry_opts *opts = cli_registry_finish(&reg);
	for (size_t i = 0; r >= 0 && i < srcs.n; i++) {
		enum kind sk;
		const char *file = split_kind(srcs.v[i], &sk);
		r = sk == K_YAML ? stage_list(s, opts, file, &lists[i], &v, &n, &err)
				 : stage(s, opts, srcs.v[i], &v, &n, &err);
	}
	if (r >= 0)
		r = dk == K_REGISTRY ? push_all(s, opts, dest, v, n, &err)
				     : export_all(s, dk, dest, v, n, &err);
	cli_registry_done(&reg);
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	lists_free(lists, srcs.n);
	hoist_store_free(s);
	return r < 0 ? cli_fail(&err) : HOIST_EXIT_OK;
}
