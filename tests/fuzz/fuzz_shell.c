/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for shell expansion. Input: "K=V" lines, a line "%%", then
 * the word (without "%%" the whole input is the word and the environment
 * is empty). Each word is expanded with hoist_shell_expand_word and
 * hoist_shell_expand_words under several flag sets and both escape
 * characters; the two must agree on success or failure.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "hoist/shell.h"
#include "hoist/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENV 64

static const unsigned flag_sets[] = {
    0,
    HOIST_SHELL_RAW_QUOTES | HOIST_SHELL_SKIP_UNSET_ENV,
    HOIST_SHELL_SKIP_PROCESS_QUOTES,
    HOIST_SHELL_RAW_ESCAPES,
    HOIST_SHELL_RAW_QUOTES | HOIST_SHELL_SKIP_UNSET_ENV | HOIST_SHELL_SKIP_PROCESS_QUOTES |
	HOIST_SHELL_RAW_ESCAPES,
};

static void run(const struct hoist_shell *sh, const char *word)
{
	struct hoist_error err1 = {0}, err2 = {0};
	char *out = NULL;
	char **words = NULL;
	int r1, r2;

	r1 = hoist_shell_expand_word(sh, word, &out, &err1);
	r2 = hoist_shell_expand_words(sh, word, &words, &err2);
	if (r1 >= 0 && strlen(out) > (sh->max_output ? sh->max_output : HOIST_SHELL_MAX_OUTPUT))
		abort();
	/*
	 * Same input, same scanner: both fail alike or neither does. Only the
	 * size cap may differ, as splitting turns each bad byte of a value into
	 * a 3-byte U+FFFD, so a word can outgrow the whole unsplit result (and
	 * fail before a later syntax error is seen).
	 */
	if (r2 != -E2BIG && r2 != (r1 < 0 ? r1 : 0))
		abort();
	if (r1 < 0 && !err1.msg[0])
		abort();
	free(out);
	hoist_strv_free(words);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = hoist_xstrndup((const char *)data, size);
	char *env[MAX_ENV + 1];
	size_t nenv = 0;
	char *word = buf, *sep;

	sep = strstr(buf, "%%\n");
	if (sep && (sep == buf || sep[-1] == '\n')) {
		char *line = buf;
		*sep = '\0';
		word = sep + 3;
		while (*line && nenv < MAX_ENV) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			env[nenv++] = line;
			if (!nl)
				break;
			line = nl + 1;
		}
	}
	env[nenv] = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(flag_sets); i++) {
		for (int e = 0; e < 2; e++) {
			struct hoist_shell sh = {
			    .escape = e ? '`' : '\\',
			    .flags = flag_sets[i],
			    .lookup = hoist_shell_lookup_envp,
			    .userdata = env,
			    /* small enough to hit the cap, big enough to expand */
			    .max_output = i == 0 && e ? 256 : 1 << 20,
			};
			run(&sh, word);
		}
	}
	free(buf);
	return 0;
}
