/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist chain: NN-Dockerfile-<descriptor> folders built one after another,
 * each FROM the previous result by digest (see hoist/chain.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hoist/chain.h"
#include "hoist/minimize.h"
#include "hoist/ref.h"
#include "hoist/registry.h"

void hoist_chain_opts_init(struct hoist_chain_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->source_date_epoch = -1;
}

static bool valid_key(const char *k, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)k[0]) || k[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)k[i]) || k[i] == '_'))
			return false;
	return true;
}

int hoist_chain_args_parse(const char *data, size_t len, const char *file, struct hoist_strv *ret,
			   struct hoist_error *err)
{
	int lineno = 0;
	size_t count = 0;
	const char *p = data, *end = data + len;

	if (len > HOIST_CHAIN_MAX_ARGS_FILE)
		return hoist_error_set_at(err, -EFBIG, file, 0, 0, "args file larger than %d bytes",
					  HOIST_CHAIN_MAX_ARGS_FILE);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *a = p, *b = le;
		lineno++;
		p = nl ? nl + 1 : end;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
			b--;
		if (a == b || *a == '#')
			continue;
		if (memchr(a, '\0', (size_t)(b - a)))
			return hoist_error_set_at(err, -EBADMSG, file, lineno, 0,
						  "NUL byte in args file");
		const char *eq = memchr(a, '=', (size_t)(b - a));
		if (!eq)
			return hoist_error_set_at(err, -EBADMSG, file, lineno, 1,
						  "want KEY=VALUE, got '%.*s'", (int)(b - a), a);
		if (!valid_key(a, (size_t)(eq - a)))
			return hoist_error_set_at(err, -EBADMSG, file, lineno, 1,
						  "invalid build arg name '%.*s'", (int)(eq - a),
						  a);
		if (++count > HOIST_CHAIN_MAX_ARGS)
			return hoist_error_set_at(err, -E2BIG, file, lineno, 0,
						  "more than %d build args", HOIST_CHAIN_MAX_ARGS);
		const char *v = eq + 1;
		size_t vlen = (size_t)(b - v);
		/* `K=""` is how the atom files spell an empty value (build.sh hands
		 * the line to docker unquoted, where it reaches the Dockerfile as
		 * two quote characters; nobody wants that). */
		if (vlen == 2 && ((v[0] == '"' && v[1] == '"') || (v[0] == '\'' && v[1] == '\'')))
			vlen = 0;
		hoist_strv_take(ret, hoist_xasprintf("%.*s=%.*s", (int)(eq - a), a, (int)vlen, v));
	}
	return 0;
}

void hoist_chain_platform_name(const struct hoist_platform *p, char *buf, size_t size)
{
	if (strcmp(p->architecture, "arm64") == 0)
		snprintf(buf, size, "aarch64");
	else
		snprintf(buf, size, "%s%s", p->architecture, p->variant);
}

int hoist_chain_platform_parse(const char *s, struct hoist_platform *ret, struct hoist_error *err)
{
	/* hoist_platform_parse already maps aarch64 and x86_64. */
	return hoist_platform_parse_known(s, ret, err);
}

static void step_release(struct hoist_chain_step *st)
{
	free(st->folder);
	free(st->file);
	free(st->path);
	free(st->descriptor);
	free(st->args_path);
	hoist_strv_release(&st->args);
}

void hoist_chain_steps_free(struct hoist_chain_step *steps, size_t n)
{
	if (!steps)
		return;
	for (size_t i = 0; i < n; i++)
		step_release(&steps[i]);
	free(steps);
}

/* "NN-Dockerfile-descr" -> number and descriptor (a pointer into name). */
static bool parse_step_name(const char *name, unsigned *ret_n, const char **ret_descr)
{
	static const char mid[] = "-Dockerfile-";
	size_t i = 0;
	uint64_t n = 0;
	while (isdigit((unsigned char)name[i])) {
		n = n * 10 + (uint64_t)(name[i] - '0');
		if (n > 1000000 || ++i > 7)
			return false;
	}
	if (i == 0 || strncmp(name + i, mid, sizeof(mid) - 1) != 0)
		return false;
	const char *d = name + i + sizeof(mid) - 1;
	if (!*d)
		return false;
	*ret_n = (unsigned)n;
	*ret_descr = d;
	return true;
}

static int step_cmp(const void *a, const void *b)
{
	const struct hoist_chain_step *x = a, *y = b;
	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	return strcmp(x->file, y->file);
}

int hoist_chain_scan(const char *folder, const char *platform_name, struct hoist_chain_step **ret,
		     size_t *ret_n, struct hoist_error *err)
{
	struct hoist_chain_step *steps = NULL;
	size_t n = 0;
	int r = 0;
	int fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "cannot open folder '%s': %s", folder,
				       strerror(errno));
	DIR *d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return hoist_error_set(err, r, "cannot read folder '%s'", folder);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		unsigned num;
		const char *descr;
		struct stat stt;
		if (!parse_step_name(de->d_name, &num, &descr))
			continue;
		if (fstatat(fd, de->d_name, &stt, 0) < 0 || !S_ISREG(stt.st_mode))
			continue;
		if (n >= HOIST_CHAIN_MAX_STEPS) {
			r = hoist_error_set(err, -E2BIG, "folder '%s': more than %d Dockerfiles",
					    folder, HOIST_CHAIN_MAX_STEPS);
			goto out;
		}
		steps = hoist_xrealloc(steps, (n + 1) * sizeof(*steps));
		struct hoist_chain_step *st = &steps[n++];
		memset(st, 0, sizeof(*st));
		st->folder = hoist_xstrdup(folder);
		st->file = hoist_xstrdup(de->d_name);
		st->path = hoist_xasprintf("%s/%s", folder, de->d_name);
		st->descriptor = hoist_xstrdup(descr);
		st->number = num;
	}
	if (n == 0) {
		r = hoist_error_set(err, -ENOENT,
				    "folder '%s' holds no NN-Dockerfile-<descriptor> file", folder);
		goto out;
	}
	qsort(steps, n, sizeof(*steps), step_cmp);
	for (size_t i = 0; platform_name && i < n; i++) {
		struct hoist_chain_step *st = &steps[i];
		_cleanup_free_ char *name =
		    hoist_xasprintf("%s-%s-args", st->descriptor, platform_name);
		_cleanup_free_ char *data = NULL;
		size_t len;
		struct stat stt;
		if (fstatat(fd, name, &stt, 0) < 0)
			continue;
		st->args_path = hoist_xasprintf("%s/%s", folder, name);
		r = hoist_read_file_at(fd, name, HOIST_CHAIN_MAX_ARGS_FILE, &data, &len, err);
		if (r < 0) {
			hoist_error_prefix(err, "reading '%s'", st->args_path);
			goto out;
		}
		r = hoist_chain_args_parse(data, len, st->args_path, &st->args, err);
		if (r < 0)
			goto out;
	}
	*ret = TAKE_PTR(steps);
	*ret_n = n;
out:
	closedir(d);
	hoist_chain_steps_free(steps, n);
	return r;
}

/* Tags allow [A-Za-z0-9_.-] (first not '.' or '-'), at most 128. */
static void tag_sanitize(char *t)
{
	size_t i;
	for (i = 0; t[i]; i++)
		if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
			t[i] = '_';
	if (t[0] == '.' || t[0] == '-')
		t[0] = '_';
	if (i > 128)
		t[128] = '\0';
}

static const char *basename_of(const char *path, char *buf, size_t size)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	const char *s = path + len;
	while (s > path && s[-1] != '/')
		s--;
	snprintf(buf, size, "%.*s", (int)(path + len - s), s);
	return buf;
}

static char *intermediate_tag(const struct hoist_chain_opts *o, const char *repo,
			      const struct hoist_chain_step *st, const char *plat)
{
	char folder[256];
	_cleanup_free_ char *t = NULL;
	if (!repo || o->tag_style == HOIST_CHAIN_TAG_NONE)
		return NULL;
	basename_of(st->folder, folder, sizeof(folder));
	if (o->tag_style == HOIST_CHAIN_TAG_BUILDSH)
		t = hoist_xasprintf("base-%s-%s-%s", st->file, folder, plat);
	else
		t = hoist_xasprintf("chain-%s-%02u-%s-%s", folder, st->number, st->descriptor,
				    plat);
	tag_sanitize(t);
	return hoist_xasprintf("%s:%s", repo, t);
}

/* One platform's chain; the last result goes to out_digest. */
static int build_platform(struct hoist_store *s, const struct hoist_chain_opts *o,
			  const struct hoist_platform *plat, const char *repo,
			  struct hoist_chain_step *const *folders, const size_t *counts,
			  size_t n_folders, size_t total, struct hoist_chain_result *res,
			  char out_digest[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	char pname[64];
	_cleanup_free_ char *prev = hoist_xstrdup(o->base);
	size_t idx = 0;
	hoist_chain_platform_name(plat, pname, sizeof(pname));

	for (size_t f = 0; f < n_folders; f++) {
		for (size_t i = 0; i < counts[f]; i++) {
			const struct hoist_chain_step *st = &folders[f][i];
			struct hoist_strv args = HOIST_STRV_INIT;
			struct hoist_build_opts bo;
			struct hoist_build_result br;
			_cleanup_free_ char *tag = intermediate_tag(o, repo, st, pname);
			const char *tags[2] = {tag, NULL};
			struct hoist_chain_event ev = {
			    .step = st, .platform = pname, .index = ++idx, .total = total};
			int r;

			hoist_strv_take(&args, hoist_xasprintf("BASE_IMAGE=%s", prev));
			for (const char *const *a = o->build_args; a && *a; a++)
				hoist_strv_push(&args, *a);
			for (size_t k = 0; k < st->args.n; k++)
				hoist_strv_push(&args, st->args.v[k]);

			hoist_build_opts_init(&bo);
			bo.context_dir = o->context_dir ? o->context_dir : ".";
			bo.dockerfile = st->path;
			bo.build_args = (const char *const *)args.v;
			bo.labels = o->labels;
			bo.tags = tag ? tags : NULL;
			bo.platform = plat;
			bo.no_cache = o->no_cache;
			bo.source_date_epoch = o->source_date_epoch;
			bo.on_event = o->on_build_event;
			bo.userdata = o->userdata;
			bo.network = o->network;
			bo.identity = o->identity;
			bo.isolation = o->isolation;
			bo.output_fd = o->output_fd;
			bo.registry = o->registry;
			bo.pull = o->registry && o->registry->pull == HOIST_PULL_ALWAYS;

			ev.kind = HOIST_CHAIN_STEP_BEGIN;
			if (o->on_event)
				o->on_event(&ev, o->userdata);
			r = hoist_build_run(s, &bo, &br, err);
			hoist_strv_release(&args);
			if (r < 0)
				return hoist_error_prefix(err, "chain step '%s' (%s)", st->path,
							  pname);
			free(prev);
			prev = hoist_xstrdup(br.manifest.digest);
			res->n_steps++;
			res->steps += br.steps;
			res->steps_cached += br.steps_cached;
			if (br.steps_cached < br.steps)
				res->n_rebuilt++;
			ev.kind = HOIST_CHAIN_STEP_DONE;
			ev.digest = br.manifest.digest;
			ev.tag = tag;
			ev.steps = br.steps;
			ev.steps_cached = br.steps_cached;
			if (o->on_event)
				o->on_event(&ev, o->userdata);
		}
	}
	snprintf(out_digest, HOIST_DIGEST_MAX, "%.71s", prev);
	return 0;
}

/* "a,b,c" -> items of out. */
static void split_commas(const char *v, struct hoist_strv *out)
{
	for (const char *p = v; *p;) {
		size_t l = strcspn(p, ",");
		if (l)
			hoist_strv_take(out, hoist_xstrndup(p, l));
		p += l + (p[l] == ',');
	}
}

static int production(struct hoist_store *s, const struct hoist_chain_opts *o,
		      const struct hoist_platform *plat, const char *folder,
		      struct hoist_chain_result *res, struct hoist_error *err)
{
	char pname[64], dg[HOIST_DIGEST_MAX];
	struct hoist_strv args = HOIST_STRV_INIT, paths = HOIST_STRV_INIT, files = HOIST_STRV_INIT,
			  install = HOIST_STRV_INIT;
	struct hoist_minimize_opts mo;
	struct hoist_minimize_result mr = {0};
	struct hoist_error e2 = {0};
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r;

	hoist_chain_platform_name(plat, pname, sizeof(pname));
	_cleanup_free_ char *af = hoist_xasprintf("%s/minimize-%s-args", folder, pname);
	r = hoist_read_file_at(AT_FDCWD, af, HOIST_CHAIN_MAX_ARGS_FILE, &data, &len, &e2);
	if (r == 0)
		r = hoist_chain_args_parse(data, len, af, &args, err);
	else if (r == -ENOENT)
		r = 0;
	else
		hoist_error_set(err, r, "reading '%s': %s", af, e2.msg);
	for (size_t i = 0; r == 0 && i < args.n; i++) {
		const char *kv = args.v[i], *v = strchr(kv, '=') + 1;
		if (hoist_startswith(kv, "ADDITIONAL_LIB_LOCATIONS="))
			split_commas(v, &paths);
		else if (hoist_startswith(kv, "ADDITIONAL_FILES="))
			split_commas(v, &files);
		else if (hoist_startswith(kv, "PRODUCTION_PACKAGES="))
			split_commas(v, &install);
	}
	if (r == 0 && ((o->registry && o->registry->pull == HOIST_PULL_ALWAYS) ||
		       hoist_store_resolve(s, o->production_base, dg, &e2) < 0)) {
		if (!o->registry)
			r = hoist_error_set(err, -ENOENT,
					    "production base '%s' is not in the store",
					    o->production_base);
		else
			r = hoist_registry_pull(s, o->registry, o->production_base, plat, NULL,
						err);
	}
	if (r == 0) {
		hoist_minimize_opts_init(&mo);
		mo.image = res->digest;
		mo.base = o->production_base;
		mo.platform = plat;
		mo.paths = (const char *const *)paths.v;
		mo.n_paths = paths.n;
		mo.files = (const char *const *)files.v;
		mo.n_files = files.n;
		mo.install = (const char *const *)install.v;
		mo.n_install = install.n;
		mo.stdout_fd = o->output_fd > 0 ? o->output_fd : -1;
		mo.stderr_fd = o->output_fd > 0 ? o->output_fd : -1;
		r = hoist_minimize_run(s, &mo, &mr, err);
		if (r < 0)
			hoist_error_prefix(err, "minimizing onto '%s'", o->production_base);
	}
	if (r == 0) {
		snprintf(res->production_digest, sizeof(res->production_digest), "%s", mr.digest);
		res->source_bytes = mr.source_layers;
		res->production_bytes = mr.production_layers;
	}
	hoist_minimize_result_release(&mr);
	hoist_strv_release(&args);
	hoist_strv_release(&paths);
	hoist_strv_release(&files);
	hoist_strv_release(&install);
	return r;
}

int hoist_chain_build(struct hoist_store *s, const struct hoist_chain_opts *o,
		      struct hoist_chain_result *ret, struct hoist_error *err)
{
	struct hoist_chain_step *folders[64] = {0};
	size_t counts[64] = {0};
	size_t n_folders = 0, total = 0;
	struct hoist_platform host;
	const struct hoist_platform *plats = o->platforms;
	size_t n_plats = o->n_platforms;
	char finals[HOIST_CHAIN_MAX_PLATFORMS][HOIST_DIGEST_MAX];
	_cleanup_free_ char *repo = NULL;
	struct hoist_chain_result res = {0};
	int r = 0;

	if (!o->folders || !o->folders[0] || !o->base)
		return hoist_error_set(err, -EINVAL, "a chain needs a base image and a folder");
	if (o->push && !o->registry)
		return hoist_error_set(err, -EINVAL, "push needs registry options");
	if (o->production_base && o->n_platforms > 1)
		return hoist_error_set(err, -EINVAL,
				       "minimize + production takes one platform per chain");
	if (n_plats > HOIST_CHAIN_MAX_PLATFORMS)
		return hoist_error_set(err, -E2BIG, "more than %d platforms",
				       HOIST_CHAIN_MAX_PLATFORMS);
	if (n_plats == 0) {
		hoist_platform_host(&host);
		plats = &host;
		n_plats = 1;
	}
	if (o->tag_repo || (o->tags && o->tags[0])) {
		struct hoist_ref ref = {0};
		r = hoist_ref_parse(o->tag_repo ? o->tag_repo : o->tags[0], &ref, err);
		if (r < 0)
			return r;
		repo = hoist_ref_repository(&ref);
		hoist_ref_release(&ref);
	}

	for (size_t p = 0; p < n_plats && r >= 0; p++) {
		char pname[64];
		hoist_chain_platform_name(&plats[p], pname, sizeof(pname));
		/* Re-scan per platform: the args files differ. */
		for (size_t f = 0; f < n_folders; f++) {
			hoist_chain_steps_free(folders[f], counts[f]);
			folders[f] = NULL;
			counts[f] = 0;
		}
		n_folders = 0;
		total = 0;
		for (const char *const *f = o->folders; *f; f++) {
			if (n_folders >= ARRAY_SIZE(folders)) {
				r = hoist_error_set(err, -E2BIG, "more than %zu folders",
						    ARRAY_SIZE(folders));
				goto out;
			}
			r = hoist_chain_scan(*f, pname, &folders[n_folders], &counts[n_folders],
					     err);
			if (r < 0)
				goto out;
			total += counts[n_folders++];
		}
		r = build_platform(s, o, &plats[p], repo, folders, counts, n_folders, total, &res,
				   finals[p], err);
	}
	if (r < 0)
		goto out;

	if (n_plats == 1) {
		snprintf(res.digest, sizeof(res.digest), "%s", finals[0]);
	} else {
		struct hoist_index_item items[HOIST_CHAIN_MAX_PLATFORMS];
		struct hoist_descriptor idx;
		for (size_t p = 0; p < n_plats; p++) {
			memcpy(items[p].digest, finals[p], HOIST_DIGEST_MAX);
			items[p].platform = &plats[p];
		}
		r = hoist_index_create(s, items, n_plats, HOIST_INDEX_OCI, NULL, &idx, err);
		if (r < 0) {
			hoist_error_prefix(err, "making the multi-platform index");
			goto out;
		}
		snprintf(res.digest, sizeof(res.digest), "%s", idx.digest);
		if (o->on_event) {
			struct hoist_chain_event ev = {.kind = HOIST_CHAIN_INDEX,
						       .digest = res.digest};
			o->on_event(&ev, o->userdata);
		}
	}
	for (const char *const *t = o->tags; t && *t; t++)
		if ((r = hoist_store_tag_set(s, *t, res.digest, err)) < 0) {
			hoist_error_prefix(err, "tagging '%s'", *t);
			goto out;
		}
	const char *const *push_tags = o->tags;
	const char *push_digest = res.digest;
	if (o->production_base) {
		const char *last = NULL;
		for (const char *const *f = o->folders; *f; f++)
			last = *f;
		if ((r = production(s, o, plats, last, &res, err)) < 0)
			goto out;
		for (const char *const *t = o->production_tags; t && *t; t++)
			if ((r = hoist_store_tag_set(s, *t, res.production_digest, err)) < 0) {
				hoist_error_prefix(err, "tagging '%s'", *t);
				goto out;
			}
		push_tags = o->production_tags;
		push_digest = res.production_digest;
	}
	for (const char *const *t = push_tags; o->push && t && *t; t++) {
		char pushed[HOIST_DIGEST_MAX];
		if ((r = hoist_registry_push(s, o->registry, push_digest, *t, pushed, err)) < 0) {
			hoist_error_prefix(err, "pushing '%s'", *t);
			goto out;
		}
		if (o->on_event) {
			struct hoist_chain_event ev = {
			    .kind = HOIST_CHAIN_PUSHED, .tag = *t, .digest = pushed};
			o->on_event(&ev, o->userdata);
		}
	}
	*ret = res;
out:
	for (size_t f = 0; f < n_folders; f++)
		hoist_chain_steps_free(folders[f], counts[f]);
	return r;
}
