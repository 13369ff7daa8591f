/* Version and the git commit the binary was built from (set by CMake). */
#ifndef GC_VERSION_H
#define GC_VERSION_H

#define GC_VERSION "0.1.0"
#ifndef GC_GIT_COMMIT
#define GC_GIT_COMMIT "unknown"
#endif

#endif
