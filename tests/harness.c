/* SPDX-License-Identifier: MIT */
/* tunplug tests — the runner behind harness.h: the case registry, the
 * counters and the one main() of every test executable. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAX_CASES 512

struct tp_case {
	const char *name;
	tp_test_fn fn;
	const char *file;
	int line;
	bool selected;
};

static struct tp_case cases[MAX_CASES];
static int n_cases;
static int registry_errors; /* too many cases, a second fixture */

static tp_test_fn fix_setup, fix_teardown;
static const char *fix_file;

/* the running case */
static struct {
	unsigned long checks, failed, known;
	unsigned failed_since_ok; /* failures since the last OK() */
	int n_ok;                 /* OK() lines printed */
	bool skipped;
} cur;

/* Registration: the names and files are string literals of the caller. */
void tp_test_register(const char *name, tp_test_fn fn, const char *file, int line)
{
	if (n_cases == MAX_CASES) {
		fprintf(stderr, "%s:%d: more than %d cases in one executable\n", file, line,
		        MAX_CASES);
		registry_errors++;
		return;
	}
	cases[n_cases++] = (struct tp_case){.name = name, .fn = fn, .file = file, .line = line};
}

/* Registration of the executable's fixture: the functions stay the caller's. */
void tp_test_fixture(tp_test_fn setup, tp_test_fn teardown, const char *file, int line)
{
	if (fix_file) {
		fprintf(stderr, "%s:%d: a second TP_TEST_FIXTURE (the first is in %s)\n", file,
		        line, fix_file);
		registry_errors++;
		return;
	}
	fix_setup = setup;
	fix_teardown = teardown;
	fix_file = file;
}

bool tp_test_check_(bool ok)
{
	cur.checks++;
	return ok;
}

void tp_test_failf(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	cur.failed++;
	cur.failed_since_ok++;
	fflush(stdout);
	fprintf(stderr, "%s:%d: CHECK(%s) failed: ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void tp_test_knownf(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	cur.known++;
	printf("KNOWN ISSUE %s:%d: %s: ", file, line, expr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void tp_test_ok(const char *fmt, ...)
{
	va_list ap;

	printf("%s %d ", cur.failed_since_ok ? "not ok" : "ok", ++cur.n_ok);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	cur.failed_since_ok = 0;
}

void tp_test_skip(const char *fmt, ...)
{
	va_list ap;

	cur.skipped = true;
	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

unsigned long tp_test_failures(void)
{
	return cur.failed;
}

/* Source order: file, then line. */
static int case_cmp(const void *a, const void *b)
{
	const struct tp_case *x = a, *y = b;
	int c = strcmp(x->file, y->file);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

static struct tp_case *find(const char *name)
{
	for (int i = 0; i < n_cases; i++)
		if (!strcmp(cases[i].name, name))
			return &cases[i];
	return NULL;
}

/* Same set of names as argv[0..argc-1] (what CMake read from the sources)?
 * Returns 0 or 1 after naming every difference. */
static int expect_cases(const char *prog, int argc, char **argv)
{
	int bad = 0;

	for (int i = 0; i < argc; i++) {
		if (!find(argv[i])) {
			fprintf(stderr,
			        "%s: CMake found TP_TEST(%s) in the source but the executable has "
			        "no such case (inside #if 0 or a comment?)\n",
			        prog, argv[i]);
			bad = 1;
		}
	}
	for (int k = 0; k < n_cases; k++) {
		int i = 0;

		while (i < argc && strcmp(argv[i], cases[k].name))
			i++;
		if (i == argc) {
			fprintf(stderr,
			        "%s:%d: case %s is not among the TP_TEST lines CMake read: write "
			        "TP_TEST(%s) at the start of a line and re-run cmake\n",
			        cases[k].file, cases[k].line, cases[k].name, cases[k].name);
			bad = 1;
		}
	}
	return bad;
}

enum result { PASS, FAIL, SKIP };

static enum result run_case(const struct tp_case *c, unsigned long *checks, unsigned long *known)
{
	enum result r;

	memset(&cur, 0, sizeof(cur));
	printf("=== %s\n", c->name);
	if (fix_setup)
		fix_setup();
	if (!cur.failed && !cur.skipped)
		c->fn();
	if (fix_teardown)
		fix_teardown();
	fflush(stderr);
	r = cur.failed ? FAIL : cur.skipped ? SKIP : PASS;
	if (r == FAIL)
		printf("--- FAIL %s: %lu of %lu checks failed\n", c->name, cur.failed, cur.checks);
	else
		printf("--- %s %s (%lu checks%s)\n", r == SKIP ? "SKIP" : "PASS", c->name,
		       cur.checks, cur.known ? ", known issues" : "");
	*checks += cur.checks;
	*known += cur.known;
	return r;
}

static int usage(const char *prog, int status)
{
	fprintf(status ? stderr : stdout,
	        "usage: %s              run every case\n"
	        "       %s --list       print the case names\n"
	        "       %s --case NAME  run one case (repeatable)\n"
	        "exit status: 0 passed, 1 failed, 77 every case run was skipped\n",
	        prog, prog, prog);
	return status;
}

int main(int argc, char **argv)
{
	const char *prog = argc > 0 ? argv[0] : "test";
	const char *slash = strrchr(prog, '/');
	int n_sel = 0, n_run = 0, n_fail = 0, n_skip = 0;
	unsigned long checks = 0, known = 0;

	if (slash)
		prog = slash + 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (registry_errors)
		return 1;
	qsort(cases, (size_t)n_cases, sizeof(cases[0]), case_cmp);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list")) {
			for (int k = 0; k < n_cases; k++)
				printf("%s\n", cases[k].name);
			return 0;
		} else if (!strcmp(argv[i], "--expect-cases")) {
			return expect_cases(prog, argc - i - 1, argv + i + 1);
		} else if (!strcmp(argv[i], "--case") && i + 1 < argc) {
			struct tp_case *c = find(argv[++i]);

			if (!c) {
				fprintf(stderr, "%s: no case %s (see --list)\n", prog, argv[i]);
				return 1;
			}
			n_sel += !c->selected;
			c->selected = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			return usage(prog, 0);
		} else {
			return usage(prog, 1);
		}
	}
	if (!n_cases) {
		fprintf(stderr, "%s: no cases registered\n", prog);
		return 1;
	}
	for (int k = 0; k < n_cases; k++) {
		enum result r;

		if (n_sel && !cases[k].selected)
			continue;
		r = run_case(&cases[k], &checks, &known);
		n_run++;
		n_fail += r == FAIL;
		n_skip += r == SKIP;
	}
	printf("%s: %d case%s: %d passed, %d failed, %d skipped; %lu checks; %lu known "
	       "issue%s\n",
	       prog, n_run, n_run == 1 ? "" : "s", n_run - n_fail - n_skip, n_fail, n_skip, checks,
	       known, known == 1 ? "" : "s");
	if (n_fail)
		return 1;
	return n_skip == n_run ? TP_TEST_SKIP : 0;
}
