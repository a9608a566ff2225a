/* Prints "ruid euid": made setuid-root by the test, it shows whether setuid takes effect. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  printf("%u %u\n", (unsigned)getuid(), (unsigned)geteuid());
  return 0;
}
