/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared-library closure, resolved the way glibc's ld.so does at run
 * time (see ld.so(8), "Rpath token expansion" and the search order), but
 * against an image's files instead of the running system:
 *
 *   1. a name with a slash is a path;
 *   2. DT_RPATH of the object, then of the object that loaded it, up to
 *      the program, unless the object has DT_RUNPATH;
 *   3. (LD_LIBRARY_PATH: not part of an image, never used)
 *   4. DT_RUNPATH of the object itself;
 *   5. the directories of /etc/ld.so.conf (what ldconfig puts in the cache);
 *   6. the default directories: multiarch, lib64/lib32, /lib, /usr/lib.
 *
 * A candidate of another ABI (class, byte order, machine, float ABI) is
 * passed over, as ld.so does; a name an already-loaded object carries as
 * its soname (or was already found under) is not searched again. Objects
 * are visited breadth-first, which is ld.so's load order.
 */
#include <elf.h>
#include <string.h>

#include "minimize-private.h"

#define LDSO_CONF_MAX ((size_t)1 << 20)
#define LDSO_CONF_DEPTH 8
#define MAX_OBJECTS 100000

struct obj {
	char *path;  /* physical */
	char *found; /* path it was found under ($ORIGIN is its directory) */
	struct hoist_elf_info info;
	struct obj *loader;
};

struct ctx {
	struct hoist_minimize_tree *t;
	struct hoist_minimize_closure *c;
	struct strset in_closure; /* physical paths already listed */
	struct obj **objs;	  /* the load queue */
	size_t n_objs;
	/* name (soname or NEEDED) -> already loaded, as parallel vectors */
	struct hoist_strv loaded_names;
	struct hoist_strv ldconf; /* directories from /etc/ld.so.conf */
	struct strset conf_seen;
};

static void obj_free(struct obj *o)
{
	if (!o)
		return;
	free(o->path);
	free(o->found);
	hoist_minimize_elf_release(&o->info);
	free(o);
}

void hoist_minimize_closure_release(struct hoist_minimize_closure *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->files[i].path);
		free(c->files[i].needed_as);
		free(c->files[i].needed_by);
	}
	free(c->files);
	hoist_strv_release(&c->missing);
	memset(c, 0, sizeof(*c));
}

static void add_file(struct ctx *x, const char *path, enum hoist_minimize_kind kind, const char *as,
		     const char *by)
{
	if (!strset_add(&x->in_closure, path))
		return;
	struct hoist_minimize_closure *c = x->c;
	c->files = hoist_xrealloc(c->files, (c->n + 1) * sizeof(*c->files));
	c->files[c->n++] = (struct hoist_minimize_file){
	    .path = hoist_xstrdup(path),
	    .kind = kind,
	    .needed_as = as ? hoist_xstrdup(as) : NULL,
	    .needed_by = by ? hoist_xstrdup(by) : NULL,
	};
}

static bool name_loaded(const struct ctx *x, const char *name)
{
	for (size_t i = 0; i < x->loaded_names.n; i++)
		if (strcmp(x->loaded_names.v[i], name) == 0)
			return true;
	return false;
}

/* ---- /etc/ld.so.conf -------------------------------------------------- */

static void ldconf_file(struct ctx *x, const char *path, int depth);

static void ldconf_include(struct ctx *x, const char *dir, const char *pattern, int depth)
{
	_cleanup_free_ char *abs =
	    pattern[0] == '/' ? hoist_xstrdup(pattern) : hoist_xasprintf("%s/%s", dir, pattern);
	_cleanup_strv_ struct hoist_strv matches = HOIST_STRV_INIT;
	tree_glob(x->t, abs, &matches);
	/* glob(3) order, as ldconfig reads them. */
	for (size_t i = 1; i < matches.n; i++)
		for (size_t j = i; j > 0 && strcmp(matches.v[j - 1], matches.v[j]) > 0; j--) {
			char *tmp = matches.v[j];
			matches.v[j] = matches.v[j - 1];
			matches.v[j - 1] = tmp;
		}
	for (size_t i = 0; i < matches.n; i++)
		ldconf_file(x, matches.v[i], depth + 1);
}

static void ldconf_file(struct ctx *x, const char *path, int depth)
{
	_cleanup_free_ char *data = NULL;
	size_t len;

	if (depth > LDSO_CONF_DEPTH || !strset_add(&x->conf_seen, path))
		return;
	if (hoist_fstree_read_file(x->t->fs, path, LDSO_CONF_MAX, &data, &len) < 0)
		return;
	_cleanup_free_ char *dir = hoist_xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';

	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (hoist_startswith(line, "include") && (line[7] == ' ' || line[7] == '\t')) {
			char *save2 = NULL;
			for (char *p = strtok_r(line + 8, " \t\r", &save2); p;
			     p = strtok_r(NULL, " \t\r", &save2))
				ldconf_include(x, dir, p, depth);
			continue;
		}
		if (hoist_startswith(line, "hwcap") && (line[5] == ' ' || line[5] == '\t'))
			continue;
		/* ldconfig splits directory lines on spaces, tabs, commas, colons. */
		char *save2 = NULL;
		for (char *p = strtok_r(line, " \t\r,:", &save2); p;
		     p = strtok_r(NULL, " \t\r,:", &save2)) {
			char *eq = strchr(p, '='); /* old "dir=TYPE" syntax */
			if (eq)
				*eq = '\0';
			if (p[0] == '/')
				hoist_strv_push(&x->ldconf, p);
		}
	}
}

/* ---- search ---------------------------------------------------------- */

/* Try dir/name: a regular file (through symlinks) of a compatible ABI. */
static int try_path(struct ctx *x, const struct obj *o, const char *path, struct obj **ret,
		    struct hoist_strv *links)
{
	struct hoist_fsnode *n;
	struct hoist_error e = {0};
	hoist_strv_release(links);
	if (hoist_fstree_resolve(x->t->fs, path, HOIST_FSTREE_FOLLOW, &n, NULL, NULL, links) < 0 ||
	    n->e.type != HOIST_ENTRY_FILE)
		return 0;
	struct obj *lib = hoist_xcalloc(1, sizeof(*lib));
	if (tree_read_elf(x->t, n, path, &lib->info, &e) < 0 ||
	    !hoist_minimize_elf_compatible(&o->info, &lib->info)) {
		obj_free(lib);
		return 0;
	}
	lib->path = hoist_fstree_node_abspath(n);
	lib->found = hoist_xstrdup(path);
	*ret = lib;
	return 1;
}

/* Expand $ORIGIN, $LIB, $PLATFORM (and the ${} forms) in one path element. */
static void expand(const struct obj *o, const char *elem, struct hoist_strv *out)
{
	static const char *const lib64[] = {"lib64", "lib", NULL};
	static const char *const lib32[] = {"lib", "lib32", NULL};
	const char *const *triplets = hoist_minimize_elf_triplets(&o->info);
	_cleanup_free_ char *origin = hoist_xstrdup(o->found);
	char *slash = strrchr(origin, '/');
	if (slash)
		*(slash == origin ? slash + 1 : slash) = '\0';
	const char *platform = "";
	switch (o->info.machine) {
	case EM_X86_64:
		platform = "x86_64";
		break;
	case EM_386:
		platform = "i686";
		break;
	case EM_AARCH64:
		platform = "aarch64";
		break;
	case EM_ARM:
		platform = "v7l";
		break;
	default:
		break;
	}

	/* $LIB has several spellings across distributions: try each. */
	_cleanup_strv_ struct hoist_strv libs = HOIST_STRV_INIT;
	for (const char *const *t = triplets; *t; t++) {
		char *l = hoist_xasprintf("lib/%s", *t);
		hoist_strv_take(&libs, l);
	}
	for (const char *const *l = o->info.elf_class == ELFCLASS64 ? lib64 : lib32; *l; l++)
		hoist_strv_push(&libs, *l);

	bool uses_lib = strstr(elem, "$LIB") || strstr(elem, "${LIB}");
	size_t n_variants = uses_lib ? libs.n : 1;
	for (size_t v = 0; v < n_variants; v++) {
		struct hoist_buf b = HOIST_BUF_INIT;
		for (const char *p = elem; *p;) {
			const char *val = NULL;
			size_t skip = 0;
			if (*p == '$') {
				static const struct {
					const char *tok;
					int which;
				} toks[] = {{"${ORIGIN}", 0}, {"$ORIGIN", 0},	  {"${LIB}", 1},
					    {"$LIB", 1},      {"${PLATFORM}", 2}, {"$PLATFORM", 2}};
				for (size_t k = 0; k < ARRAY_SIZE(toks); k++)
					if (hoist_startswith(p, toks[k].tok)) {
						skip = strlen(toks[k].tok);
						val = toks[k].which == 0   ? origin
						      : toks[k].which == 1 ? libs.v[v]
									   : platform;
						break;
					}
			}
			if (val) {
				hoist_buf_adds(&b, val);
				p += skip;
			} else {
				hoist_buf_addc(&b, *p++);
			}
		}
		if (b.data && b.data[0])
			hoist_strv_take(out, hoist_buf_detach(&b, NULL));
		hoist_buf_release(&b);
	}
}

static int search_list(struct ctx *x, const struct obj *o, const struct obj *owner,
		       const char *list, const char *name, struct obj **ret,
		       struct hoist_strv *links)
{
	_cleanup_free_ char *copy = hoist_xstrdup(list);
	char *save = NULL;
	for (char *elem = strtok_r(copy, ":", &save); elem; elem = strtok_r(NULL, ":", &save)) {
		_cleanup_strv_ struct hoist_strv dirs = HOIST_STRV_INIT;
		expand(owner, elem, &dirs);
		for (size_t i = 0; i < dirs.n; i++) {
			_cleanup_free_ char *p = hoist_xasprintf("%s/%s", dirs.v[i], name);
			if (try_path(x, o, p, ret, links))
				return 1;
		}
	}
	return 0;
}

static int search(struct ctx *x, const struct obj *o, const char *name, struct obj **ret,
		  struct hoist_strv *links)
{
	if (strchr(name, '/')) {
		_cleanup_free_ char *p =
		    name[0] == '/' ? hoist_xstrdup(name) : hoist_xasprintf("/%s", name);
		return try_path(x, o, p, ret, links);
	}
	if (!o->info.runpath)
		for (const struct obj *l = o; l; l = l->loader)
			if (l->info.rpath && search_list(x, o, l, l->info.rpath, name, ret, links))
				return 1;
	if (o->info.runpath && search_list(x, o, o, o->info.runpath, name, ret, links))
		return 1;
	for (size_t i = 0; i < x->ldconf.n; i++) {
		_cleanup_free_ char *p = hoist_xasprintf("%s/%s", x->ldconf.v[i], name);
		if (try_path(x, o, p, ret, links))
			return 1;
	}
	const char *const *triplets = hoist_minimize_elf_triplets(&o->info);
	_cleanup_strv_ struct hoist_strv defaults = HOIST_STRV_INIT;
	for (const char *const *t = triplets; *t; t++) {
		hoist_strv_take(&defaults, hoist_xasprintf("/lib/%s", *t));
		hoist_strv_take(&defaults, hoist_xasprintf("/usr/lib/%s", *t));
	}
	if (o->info.elf_class == ELFCLASS64) {
		hoist_strv_push(&defaults, "/lib64");
		hoist_strv_push(&defaults, "/usr/lib64");
	} else if (o->info.machine == EM_X86_64) {
		hoist_strv_push(&defaults, "/libx32");
		hoist_strv_push(&defaults, "/usr/libx32");
	} else {
		hoist_strv_push(&defaults, "/lib32");
		hoist_strv_push(&defaults, "/usr/lib32");
	}
	hoist_strv_push(&defaults, "/lib");
	hoist_strv_push(&defaults, "/usr/lib");
	for (size_t i = 0; i < defaults.n; i++) {
		_cleanup_free_ char *p = hoist_xasprintf("%s/%s", defaults.v[i], name);
		if (try_path(x, o, p, ret, links))
			return 1;
	}
	return 0;
}

static void missing(struct ctx *x, const char *what, const char *name, const char *by)
{
	hoist_strv_take(
	    &x->c->missing,
	    hoist_xasprintf("%s '%s' needed by '%s' not found in the image", what, name, by));
}

static void enqueue(struct ctx *x, struct obj *o)
{
	x->objs = hoist_xrealloc(x->objs, (x->n_objs + 1) * sizeof(*x->objs));
	x->objs[x->n_objs++] = o;
	if (o->info.soname)
		hoist_strv_push(&x->loaded_names, o->info.soname);
}

/* The dynamic loader a program names: listed, and its own closure too. */
static void add_interp(struct ctx *x, struct obj *o)
{
	if (!o->info.interp)
		return;
	_cleanup_strv_ struct hoist_strv links = HOIST_STRV_INIT;
	struct hoist_fsnode *n;
	if (hoist_fstree_resolve(x->t->fs, o->info.interp, HOIST_FSTREE_FOLLOW, &n, NULL, NULL,
				 &links) < 0 ||
	    n->e.type != HOIST_ENTRY_FILE) {
		missing(x, "interpreter", o->info.interp, o->path);
		return;
	}
	for (size_t i = 0; i < links.n; i++)
		add_file(x, links.v[i], HOIST_MINIMIZE_SYMLINK, NULL, NULL);
	_cleanup_free_ char *phys = hoist_fstree_node_abspath(n);
	if (strset_has(&x->in_closure, phys))
		return;
	add_file(x, phys, HOIST_MINIMIZE_INTERP, o->info.interp, o->path);
	struct obj *ld = hoist_xcalloc(1, sizeof(*ld));
	struct hoist_error e = {0};
	if (tree_read_elf(x->t, n, phys, &ld->info, &e) < 0) {
		obj_free(ld);
		return;
	}
	ld->path = hoist_xstrdup(phys);
	ld->found = hoist_xstrdup(o->info.interp);
	hoist_strv_push(&x->loaded_names, o->info.interp);
	enqueue(x, ld);
}

int hoist_minimize_closure(struct hoist_minimize_tree *t, const char *const *roots, size_t n_roots,
			   unsigned flags, struct hoist_minimize_closure *ret,
			   struct hoist_error *err)
{
	struct hoist_minimize_closure c = {0};
	struct ctx x = {.t = t, .c = &c};
	int r = 0;

	ldconf_file(&x, "/etc/ld.so.conf", 0);

	for (size_t i = 0; i < n_roots; i++) {
		_cleanup_strv_ struct hoist_strv links = HOIST_STRV_INIT;
		struct hoist_fsnode *n;
		r = hoist_fstree_resolve(t->fs, roots[i], HOIST_FSTREE_FOLLOW, &n, NULL, NULL,
					 &links);
		if (r < 0) {
			r = hoist_error_set(err, r, "'%s' not found in the image", roots[i]);
			goto out;
		}
		if (n->e.type != HOIST_ENTRY_FILE)
			continue;
		_cleanup_free_ char *phys = hoist_fstree_node_abspath(n);
		struct obj *o = hoist_xcalloc(1, sizeof(*o));
		struct hoist_error e = {0};
		r = tree_read_elf(t, n, phys, &o->info, &e);
		if (r < 0) {
			/* Not ELF (a script, a header): not part of the closure.
			 * A malformed ELF cannot be loaded either; say so. */
			obj_free(o);
			if (r != -ENOEXEC)
				hoist_log(1, "minimize: skipping '%s': %s", phys, e.msg);
			r = 0;
			continue;
		}
		if (strset_has(&x.in_closure, phys)) {
			obj_free(o);
			continue;
		}
		for (size_t k = 0; k < links.n; k++)
			add_file(&x, links.v[k], HOIST_MINIMIZE_SYMLINK, NULL, NULL);
		add_file(&x, phys, HOIST_MINIMIZE_ROOT, NULL, NULL);
		o->path = TAKE_PTR(phys);
		o->found = hoist_xstrdup(o->path);
		add_interp(&x, o);
		enqueue(&x, o);
	}

	for (size_t q = 0; q < x.n_objs; q++) {
		struct obj *o = x.objs[q];
		for (size_t k = 0; k < o->info.needed.n; k++) {
			const char *name = o->info.needed.v[k];
			if (name_loaded(&x, name))
				continue;
			_cleanup_strv_ struct hoist_strv links = HOIST_STRV_INIT;
			struct obj *lib = NULL;
			if (!search(&x, o, name, &lib, &links)) {
				missing(&x, "library", name, o->path);
				hoist_strv_push(&x.loaded_names, name); /* report once */
				continue;
			}
			hoist_strv_push(&x.loaded_names, name);
			for (size_t l = 0; l < links.n; l++)
				add_file(&x, links.v[l], HOIST_MINIMIZE_SYMLINK, NULL, NULL);
			if (strset_has(&x.in_closure, lib->path)) {
				obj_free(lib);
				continue;
			}
			if (x.n_objs >= MAX_OBJECTS) {
				obj_free(lib);
				r = hoist_error_set(err, -E2BIG,
						    "more than %d objects in the closure",
						    MAX_OBJECTS);
				goto out;
			}
			add_file(&x, lib->path, HOIST_MINIMIZE_LIBRARY, name, o->path);
			lib->loader = o;
			enqueue(&x, lib);
		}
	}

	if (c.missing.n && !(flags & HOIST_MINIMIZE_ALLOW_MISSING)) {
		/* Drop the "library " prefix for the headline, keep the count. */
		const char *first = c.missing.v[0];
		if (hoist_startswith(first, "library "))
			first += 8;
		if (c.missing.n == 1)
			r = hoist_error_set(err, -ENOENT, "%s", first);
		else
			r = hoist_error_set(err, -ENOENT, "%s (and %zu more)", first,
					    c.missing.n - 1);
		goto out;
	}
	*ret = c;
	memset(&c, 0, sizeof(c));
out:
	for (size_t i = 0; i < x.n_objs; i++)
		obj_free(x.objs[i]);
	free(x.objs);
	strset_release(&x.in_closure);
	strset_release(&x.conf_seen);
	hoist_strv_release(&x.loaded_names);
	hoist_strv_release(&x.ldconf);
	hoist_minimize_closure_release(&c);
	return r;
}
