/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * registries.conf (containers-registries.conf(5), version 2), the file
 * podman, buildah and skopeo read: where an image name is really pulled
 * from. `[[registry]]` tables rewrite a name's longest matching `prefix`
 * (`host`, `host/ns`, `host/ns/repo[:tag|@digest]` or `*.domain`) to their
 * `location` and list `[[registry.mirror]]` locations tried first;
 * `blocked` refuses the name, `insecure` allows plain HTTP and unverified
 * TLS. Short names ("debian") go through `[aliases]`, then
 * `unqualified-search-registries`, else Docker's docker.io. See
 * docs/airgap.md for the files read, their order and hoist's choices.
 *
 * The files are untrusted input: each is read by a TOML-subset reader that
 * is bounded and refuses what it does not understand with "FILE:LINE:COL:".
 */

#include <stdbool.h>
#include <stddef.h>

#include "hoist/error.h"
#include "hoist/util.h"

#define HOIST_REGCONF_MAX_REGISTRIES 1024
#define HOIST_REGCONF_MAX_MIRRORS 64 /* per [[registry]] */
#define HOIST_REGCONF_MAX_ALIASES 4096
#define HOIST_REGCONF_MAX_FILES 256 /* drop-ins read */

enum hoist_regconf_pull_from { HOIST_PULL_FROM_ALL, HOIST_PULL_FROM_DIGEST, HOIST_PULL_FROM_TAG };

struct hoist_regconf_mirror {
	char *location;
	bool insecure;
	enum hoist_regconf_pull_from pull_from; /* `pull-from-mirror` */
	int line;
};

struct hoist_regconf_registry {
	char *prefix;	/* as written, or the location when absent */
	char *location; /* "" only for a wildcard prefix without one (no rewrite) */
	bool insecure;
	bool blocked;
	bool mirror_by_digest_only;
	struct hoist_regconf_mirror *mirrors;
	size_t n_mirrors;
	const char *file; /* points into hoist_regconf.files */
	int line;	  /* of the [[registry]] header */
};

struct hoist_regconf_alias {
	char *name;  /* short name, no tag */
	char *value; /* fully-qualified repository, no tag */
	const char *file;
	int line;
};

struct hoist_regconf {
	struct hoist_regconf_registry *regs;
	size_t n_regs;
	struct hoist_strv search; /* unqualified-search-registries */
	const char *search_file;  /* where it was set, NULL when never */
	int search_line;
	struct hoist_regconf_alias *aliases;
	size_t n_aliases;
	struct hoist_strv files; /* every file read, in order (owns the `file` strings) */
};

void hoist_regconf_init(struct hoist_regconf *c);
void hoist_regconf_release(struct hoist_regconf *c);

/*
 * Merge one file's text into c, as a later drop-in does: a `[[registry]]`
 * with a prefix already known replaces it, `unqualified-search-registries`
 * replaces the list when present, aliases are added or replaced (an empty
 * value removes one). `file` names it in errors and in rules. On failure c
 * is unchanged except for what was merged before the error.
 */
int hoist_regconf_parse(struct hoist_regconf *c, const char *data, size_t len, const char *file,
			struct hoist_error *err);

/*
 * Load the configuration hoist uses. `path` (or, when NULL,
 * $HOIST_REGISTRIES_CONF) names one file that is read alone, without
 * drop-ins ("" or "/dev/null": none at all). Otherwise as podman:
 * ~/.config/containers/registries.conf when it exists, else
 * /etc/containers/registries.conf, then the *.conf files of
 * /etc/containers/registries.conf.d (unless the user file was used) and
 * ~/.config/containers/registries.conf.d in name order. Missing files are
 * fine.
 */
int hoist_regconf_load(struct hoist_regconf *c, const char *path, struct hoist_error *err);

/* Where one pull may come from. */
struct hoist_pull_source {
	char *name;	  /* the logical name (after aliases and search), normalized */
	char *ref;	  /* what to fetch: mirror or location, normalized */
	bool insecure;	  /* registries.conf allows HTTP / unverified TLS for it */
	bool mirror;	  /* a [[registry.mirror]] */
	const char *file; /* the rule used, or NULL when none matched */
	int line;
};

struct hoist_pull_plan {
	char *name; /* the name as given, normalized Docker's way: what is tagged */
	struct hoist_pull_source *v;
	size_t n;
};
void hoist_pull_plan_release(struct hoist_pull_plan *p);

/*
 * The sources to try, in order, for pulling `ref` (c may be NULL: Docker's
 * rules only). A name whose rule says `blocked` is -EACCES naming the rule
 * ("FILE:LINE"). *ret is zeroed first; release it also after a failure.
 */
int hoist_regconf_plan(const struct hoist_regconf *c, const char *ref, struct hoist_pull_plan *ret,
		       struct hoist_error *err);

/* The plan's sources as "a, b, c" for messages. New string. */
char *hoist_pull_plan_describe(const struct hoist_pull_plan *p);
