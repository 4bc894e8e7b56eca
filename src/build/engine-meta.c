/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One instruction of a stage: RUN, COPY and ADD go to engine-fs.c; the
 * others (ARG, ENV, LABEL, WORKDIR, USER, STOPSIGNAL, MAINTAINER, EXPOSE,
 * VOLUME, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD) update the image
 * config the way BuildKit's dockerfile2llb dispatches them, with the
 * history text BuildKit writes, and go through the step cache.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "build-private.h"

/* Go's %q of a []string, as BuildKit's history texts print it. */
static void add_goquoted_list(struct hoist_buf *out, const struct hoist_strv *v, bool quote)
{
	hoist_buf_addc(out, '[');
	for (size_t i = 0; i < v->n; i++) {
		if (i)
			hoist_buf_addc(out, ' ');
		if (!quote) {
			hoist_buf_adds(out, v->v[i]);
			continue;
		}
		json_t *s = hoist_json_text(v->v[i]);
		char *d = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
		hoist_buf_adds(out, d ? d : "\"\"");
		free(d);
		json_decref(s);
	}
	hoist_buf_addc(out, ']');
}

/* Go's %q of an int (strconv.QuoteRune), as in BuildKit's HEALTHCHECK text. */
static void add_goquoted_rune(struct hoist_buf *out, int64_t r)
{
	static const char esc[] = {'\a', 'a',  '\b', 'b',  '\f', 'f',  '\n',
				   'n',	 '\r', 'r',  '\t', 't',	 '\v', 'v'};
	hoist_buf_addc(out, '\'');
	if (r == '\'' || r == '\\') {
		hoist_buf_addc(out, '\\');
		hoist_buf_addc(out, (char)r);
	} else if (r >= 0x20 && r < 0x7f) {
		hoist_buf_addc(out, (char)r);
	} else if (r >= 0 && r < 0x20) {
		bool done = false;
		for (size_t i = 0; i < sizeof(esc); i += 2)
			if (esc[i] == r) {
				hoist_buf_addc(out, '\\');
				hoist_buf_addc(out, esc[i + 1]);
				done = true;
			}
		if (!done)
			hoist_buf_addf(out, "\\x%02x", (unsigned)r);
	} else if (r == 0x7f) {
		hoist_buf_adds(out, "\\x7f");
	} else if (r < 0 || r > 0x10ffff || (r >= 0xd800 && r < 0xe000)) {
		hoist_buf_adds(out, "\xef\xbf\xbd"); /* U+FFFD */
	} else if (r < 0x10000) {
		hoist_buf_addf(out, "\\u%04x", (unsigned)r);
	} else {
		hoist_buf_addf(out, "\\U%08x", (unsigned)r);
	}
	hoist_buf_addc(out, '\'');
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_t *strv_to_json(const struct hoist_strv *v)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(a, hoist_json_text(v->v[i]));
	return a;
}

/* Port spec ("80", "80/udp", "8000-8002/tcp") into ExposedPorts keys. */
static int add_ports(json_t *ports, const char *spec)
{
	const char *slash = strchr(spec, '/');
	_cleanup_free_ char *range =
	    slash ? hoist_xstrndup(spec, (size_t)(slash - spec)) : hoist_xstrdup(spec);
	const char *proto = slash ? slash + 1 : "tcp";
	char *dash = strchr(range, '-');
	uint64_t lo, hi;
	if (dash)
		*dash++ = '\0';
	if (hoist_parse_u64(range, 65535, &lo) < 0 ||
	    (dash ? hoist_parse_u64(dash, 65535, &hi) : (hi = lo, 0)) < 0 || hi < lo)
		return -EINVAL;
	for (uint64_t p = lo; p <= hi; p++) {
		char key[64];
		snprintf(key, sizeof(key), "%llu/%s", (unsigned long long)p, proto);
		for (char *c = key; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		json_object_set_new(ports, key, json_object());
	}
	return 0;
}

int run_step(struct stepctx *sc, const struct hoist_instr *in, struct hoist_error *err)
{
	struct build *b = sc->b;
	struct stagestate *st = sc->st;
	_cleanup_strv_ struct hoist_strv parts = HOIST_STRV_INIT;
	struct hoist_buf text = HOIST_BUF_INIT;
	char **envp = stage_expand_env(st);
	json_t *c = stage_cfg(st);
	int rc = 0;
	bool layer = false;
	double t0 = build_now();
	struct keyhash k;

	switch (in->kind) {
	case HOIST_INSTR_RUN:
		rc = run_run(sc, in, err);
		goto out;
	case HOIST_INSTR_FROM:
	case HOIST_INSTR_COPY:
	case HOIST_INSTR_ADD:
		rc = run_copy(sc, in, envp, err);
		goto out;
	case HOIST_INSTR_ARG:
		hoist_buf_adds(&text, "ARG");
		for (size_t i = 0; i < in->n_kvs; i++) {
			_cleanup_free_ char *key = NULL, *val = NULL;
			if ((rc = build_expand(b, envp, in->kvs[i].key, in->line, &key, err)) < 0)
				goto out;
			const char *bv = build_barg(b, key);
			if (bv)
				val = hoist_xstrdup(bv);
			else if (in->kvs[i].value) {
				if ((rc = build_expand(b, envp, in->kvs[i].value, in->line, &val,
						       err)) < 0)
					goto out;
			} else if (kv_lookup(&b->meta, key))
				val = hoist_xstrdup(kv_lookup(&b->meta, key));
			else if (kv_lookup(&b->predef, key))
				val = hoist_xstrdup(kv_lookup(&b->predef, key));
			/* BuildKit 20.10: a value overrides an ENV of the same name
			 * made before (the later write wins), a declaration without
			 * one keeps what the stage had, and every declaration is
			 * listed again in RUN's history. */
			if (val)
				kv_set(&st->args, key, val);
			hoist_strv_push(&st->argdecl, key);
			/* The key holds the text as written: ARG values reach the image
			 * only through instructions that use them, whose expanded text
			 * is in their own keys. */
			if (in->kvs[i].value) {
				_cleanup_free_ char *def = NULL;
				if ((rc = build_expand(b, envp, in->kvs[i].value, in->line, &def,
						       err)) < 0)
					goto out;
				hoist_buf_addf(&text, " %s=%s", key, def);
			} else {
				hoist_buf_addf(&text, " %s", key);
			}
		}
		break;
	case HOIST_INSTR_ENV:
	case HOIST_INSTR_LABEL: {
		bool env = in->kind == HOIST_INSTR_ENV;
		struct hoist_strv keys = HOIST_STRV_INIT, vals = HOIST_STRV_INIT;
		hoist_buf_adds(&text, in->keyword);
		for (size_t i = 0; i < in->n_kvs && rc >= 0; i++) {
			char *key = NULL, *val = NULL;
			rc = build_expand(b, envp, in->kvs[i].key, in->line, &key, err);
			if (rc >= 0)
				rc = build_expand(b, envp, in->kvs[i].value ? in->kvs[i].value : "",
						  in->line, &val, err);
			if (rc < 0) {
				free(key);
				free(val);
				break;
			}
			hoist_buf_addf(&text, " %s=%s", key, val);
			hoist_strv_take(&keys, key);
			hoist_strv_take(&vals, val);
		}
		if (rc >= 0 && env) {
			json_t *arr = json_object_get(c, "Env");
			/* The later write wins: this ENV over earlier ARG values. */
			for (size_t i = 0; i < keys.n; i++)
				kv_del(&st->args, keys.v[i]);
			if (!json_is_array(arr)) {
				arr = json_array();
				json_object_set_new(c, "Env", arr);
			}
			for (size_t i = 0; i < keys.n; i++) {
				size_t kl = strlen(keys.v[i]), j;
				json_t *e;
				bool done = false;
				_cleanup_free_ char *kv =
				    hoist_xasprintf("%s=%s", keys.v[i], vals.v[i]);
				json_array_foreach(arr, j, e)
				{
					const char *s = json_string_value(e);
					if (s && strncmp(s, keys.v[i], kl) == 0 && s[kl] == '=') {
						json_array_set_new(arr, j, hoist_json_text(kv));
						done = true;
						break;
					}
				}
				if (!done)
					json_array_append_new(arr, hoist_json_text(kv));
			}
		} else if (rc >= 0) {
			json_t *labels = json_object_get(c, "Labels");
			if (!json_is_object(labels)) {
				labels = json_object();
				json_object_set_new(c, "Labels", labels);
			}
			for (size_t i = 0; i < keys.n; i++)
				json_object_set_new(labels, keys.v[i], hoist_json_text(vals.v[i]));
		}
		hoist_strv_release(&keys);
		hoist_strv_release(&vals);
		if (rc < 0)
			goto out;
		break;
	}
	case HOIST_INSTR_WORKDIR: {
		_cleanup_free_ char *w = NULL;
		if ((rc = build_expand(b, envp, in->arg, in->line, &w, err)) < 0)
			goto out;
		const char *cur = json_string_value(json_object_get(c, "WorkingDir"));
		_cleanup_free_ char *joined =
		    w[0] == '/' ? hoist_xstrdup(w)
				: hoist_xasprintf("%s/%s", cur && *cur ? cur : "/", w);
		_cleanup_free_ char *wd = go_path_clean(joined);
		json_object_set_new(c, "WorkingDir", hoist_json_text(wd));
		hoist_buf_addf(&text, "WORKDIR %s", wd);
		layer = strcmp(wd, "/") != 0;
		break;
	}
	case HOIST_INSTR_USER:
	case HOIST_INSTR_STOPSIGNAL:
	case HOIST_INSTR_MAINTAINER: {
		_cleanup_free_ char *w = NULL;
		if (in->kind == HOIST_INSTR_MAINTAINER)
			w = hoist_xstrdup(in->arg);
		else if ((rc = build_expand(b, envp, in->arg, in->line, &w, err)) < 0)
			goto out;
		hoist_buf_addf(&text, "%s %s", in->keyword, w);
		if (in->kind == HOIST_INSTR_USER)
			json_object_set_new(c, "User", hoist_json_text(w));
		else if (in->kind == HOIST_INSTR_STOPSIGNAL)
			json_object_set_new(c, "StopSignal", hoist_json_text(w));
		else
			json_object_set_new(st->img.config, "author", hoist_json_text(w));
		break;
	}
	case HOIST_INSTR_EXPOSE: {
		json_t *ports = json_object_get(c, "ExposedPorts");
		if (!json_is_object(ports)) {
			ports = json_object();
			json_object_set_new(c, "ExposedPorts", ports);
		}
		hoist_buf_adds(&text, "EXPOSE");
		for (size_t i = 0; i < in->args.n; i++) {
			char **ws = NULL;
			if ((rc = build_expand_words(b, envp, in->args.v[i], in->line, &ws, err)) <
			    0)
				goto out;
			for (char **w = ws; *w; w++) {
				if (add_ports(ports, *w) < 0) {
					rc = hoist_error_set_at(err, -EINVAL, b->file, in->line, 0,
								"invalid port '%s' in EXPOSE", *w);
					break;
				}
				hoist_strv_push(&parts, *w);
			}
			hoist_strv_free(ws);
			if (rc < 0)
				goto out;
		}
		/* BuildKit: fmt's %v of this instruction's nat.PortSet, keys sorted. */
		{
			json_t *mine = json_object();
			for (size_t i = 0; i < parts.n; i++)
				(void)add_ports(mine, parts.v[i]);
			struct hoist_strv keys = HOIST_STRV_INIT;
			const char *kk;
			json_t *vv;
			json_object_foreach(mine, kk, vv) hoist_strv_push(&keys, kk);
			qsort(keys.v, keys.n, sizeof(*keys.v), cmp_str);
			hoist_buf_adds(&text, " map[");
			for (size_t i = 0; i < keys.n; i++)
				hoist_buf_addf(&text, "%s%s:{}", i ? " " : "", keys.v[i]);
			hoist_buf_addc(&text, ']');
			hoist_strv_release(&keys);
			json_decref(mine);
		}
		break;
	}
	case HOIST_INSTR_VOLUME: {
		json_t *vols = json_object_get(c, "Volumes");
		if (!json_is_object(vols)) {
			vols = json_object();
			json_object_set_new(c, "Volumes", vols);
		}
		for (size_t i = 0; i < in->args.n; i++) {
			char *w = NULL;
			if ((rc = build_expand(b, envp, in->args.v[i], in->line, &w, err)) < 0)
				goto out;
			json_object_set_new(vols, w, json_object());
			hoist_strv_take(&parts, w);
		}
		hoist_buf_adds(&text, "VOLUME ");
		add_goquoted_list(&text, &parts, false);
		break;
	}
	case HOIST_INSTR_CMD:
	case HOIST_INSTR_ENTRYPOINT:
	case HOIST_INSTR_SHELL: {
		if (!in->json && in->kind != HOIST_INSTR_SHELL) {
			json_t *shell = json_object_get(c, "Shell");
			size_t i;
			json_t *e;
			if (json_array_size(shell) > 0) {
				json_array_foreach(shell, i, e)
				    hoist_strv_push(&parts, json_string_value(e) ?: "");
			} else {
				hoist_strv_push(&parts, "/bin/sh");
				hoist_strv_push(&parts, "-c");
			}
			struct hoist_buf j = HOIST_BUF_INIT;
			for (size_t a = 0; a < in->args.n; a++) {
				if (a)
					hoist_buf_addc(&j, ' ');
				hoist_buf_adds(&j, in->args.v[a]);
			}
			hoist_strv_take(&parts,
					j.data ? hoist_buf_detach(&j, NULL) : hoist_xstrdup(""));
		} else {
			for (size_t a = 0; a < in->args.n; a++)
				hoist_strv_push(&parts, in->args.v[a]);
		}
		hoist_buf_addf(&text, "%s ", in->keyword);
		add_goquoted_list(&text, &parts, in->kind != HOIST_INSTR_SHELL);
		const char *field = in->kind == HOIST_INSTR_CMD		 ? "Cmd"
				    : in->kind == HOIST_INSTR_ENTRYPOINT ? "Entrypoint"
									 : "Shell";
		json_object_set_new(c, field, strv_to_json(&parts));
		if (in->kind == HOIST_INSTR_CMD)
			st->cmd_set = true;
		if (in->kind == HOIST_INSTR_ENTRYPOINT && !st->cmd_set)
			json_object_set_new(c, "Cmd", json_null());
		break;
	}
	case HOIST_INSTR_HEALTHCHECK: {
		const struct hoist_healthcheck *h = &in->health;
		json_t *hc = json_object();
		json_object_set_new(hc, "Test", strv_to_json(&h->test));
		if (h->interval)
			json_object_set_new(hc, "Interval", json_integer(h->interval));
		if (h->timeout)
			json_object_set_new(hc, "Timeout", json_integer(h->timeout));
		if (h->start_period)
			json_object_set_new(hc, "StartPeriod", json_integer(h->start_period));
		if (h->start_interval)
			json_object_set_new(hc, "StartInterval", json_integer(h->start_interval));
		if (h->retries)
			json_object_set_new(hc, "Retries", json_integer(h->retries));
		json_object_set_new(c, "Healthcheck", hc);
		char i1[32], i2[32], i3[32];
		hoist_format_duration(h->interval, i1, sizeof(i1));
		hoist_format_duration(h->timeout, i2, sizeof(i2));
		hoist_format_duration(h->start_period, i3, sizeof(i3));
		hoist_buf_adds(&text, "HEALTHCHECK &{");
		add_goquoted_list(&text, &h->test, true);
		hoist_buf_addf(&text, " \"%s\" \"%s\" \"%s\" ", i1, i2, i3);
		add_goquoted_rune(&text, h->retries);
		hoist_buf_addc(&text, '}');
		break;
	}
	case HOIST_INSTR_ONBUILD: {
		json_t *ob = json_object_get(c, "OnBuild");
		if (!json_is_array(ob)) {
			ob = json_array();
			json_object_set_new(c, "OnBuild", ob);
		}
		json_array_append_new(ob, hoist_json_text(in->arg));
		hoist_buf_addf(&text, "ONBUILD %s", in->arg);
		break;
	}
	}

	step_key(b, st, text.data, &k);
	key_finish(&k, st->key);
	if (record_get(b, st)) {
		b->cached++;
		build_emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno, sc->n_steps,
			   text.data, true, build_now() - t0);
		goto out;
	}
	if (layer) {
		struct hoist_fsnode *d;
		uint32_t uid = 0, gid = 0;
		const char *user = json_string_value(json_object_get(c, "User"));
		const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
		if ((rc = ensure_tree(b, st, err)) < 0)
			goto out;
		if (user && *user) {
			char why[256];
			if (resolve_owner(st->tree, user, &uid, &gid, why, sizeof(why)) < 0) {
				rc = hoist_error_set_at(err, -EINVAL, b->file, in->line, 0,
							"WORKDIR: %s", why);
				goto out;
			}
		}
		st->tree->gen++;
		rc = stage_tree_mkdir_p(st->tree, wd, uid, gid, build_mtime_now(b), &d);
		if (rc < 0) {
			rc = hoist_error_set_at(err, rc, b->file, in->line, 0,
						"WORKDIR: cannot create '%s': %s", wd,
						strerror(-rc));
			goto out;
		}
		if ((rc = do_layer(b, st, text.data, err)) < 0)
			goto out;
	} else if (in->kind != HOIST_INSTR_ONBUILD) {
		/* BuildKit records no history entry for ONBUILD (case 34). */
		add_history(b, st, text.data, true);
	}
	if ((rc = record_put(b, st, err)) < 0)
		goto out;
	b->steps++;
	build_emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno, sc->n_steps, text.data,
		   false, build_now() - t0);
out:
	hoist_buf_release(&text);
	hoist_strv_free(envp);
	return rc;
}
