/* measure — runs a command, forwards SIGTERM to it, and when it ends writes
 * "user_us sys_us maxrss_kib" of that child to the file named first. The child's
 * pid goes to OUTFILE.pid as soon as it runs.
 *   measure OUTFILE CMD ARGS... */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;
static void fwd(int s) { if (child > 0) kill(child, s); }

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: measure OUTFILE CMD ARGS...\n");
		return 2;
	}
	child = fork();
	if (child == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	char pidfile[4096];
	snprintf(pidfile, sizeof(pidfile), "%s.pid", argv[1]);
	FILE *pf = fopen(pidfile, "w");
	if (pf) {
		fprintf(pf, "%d\n", (int)child);
		fclose(pf);
	}
	struct sigaction sa = { .sa_handler = fwd };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int st;
	struct rusage ru;
	while (wait4(child, &st, 0, &ru) < 0)
		;
	FILE *f = fopen(argv[1], "w");
	if (f) {
		fprintf(f, "%ld %ld %ld\n", ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
			ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec, ru.ru_maxrss);
		fclose(f);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
