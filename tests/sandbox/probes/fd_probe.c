/* Prints the open file descriptors of this process, space-separated (the one opendir uses to
 * read /proc/self/fd excluded), to show that nothing leaked into the sandbox. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL) return 2;
  int own = dirfd(dir);
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.') continue;
    if (atoi(entry->d_name) == own) continue;
    printf("%s ", entry->d_name);
  }
  printf("\n");
  closedir(dir);
  return 0;
}
