/* SPDX-License-Identifier: MIT */
/* Replay driver for the fuzz targets with any compiler: calls
 * LLVMFuzzerTestOneInput once per file of every directory (or file) named on
 * the command line. Fails when nothing was replayed, so an empty or missing
 * corpus cannot pass silently. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run one file. Returns 1 if replayed, 0 if skipped, -1 on a read error. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;
	int ret = -1;

	if (!f)
		goto out;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	/* exact-size heap buffer, so sanitizers see any overread */
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		goto out;
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	ret = 1;
out:
	if (ret < 0)
		fprintf(stderr, "replay: cannot read %s\n", path);
	free(buf);
	if (f)
		fclose(f);
	return ret;
}

int main(int argc, char **argv)
{
	int total = 0, errors = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: not found\n", argv[i]);
			errors++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			int r = run_file(argv[i]);
			total += r > 0;
			errors += r < 0;
			continue;
		}
		d = opendir(argv[i]);
		while (d && (e = readdir(d))) {
			char path[4096];
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			int r = run_file(path);
			total += r > 0;
			errors += r < 0;
		}
		if (d)
			closedir(d);
	}
	printf("replay: %d input(s) ran cleanly\n", total);
	return errors || total == 0 ? 1 : 0;
}
