// Clang thread-safety annotations (-Wthread-safety), written as macros so GCC builds ignore them.
//
// They state lock rules where the data is declared: GUARDED_BY names the mutex that must be held
// to touch a member, REQUIRES names the mutex a function expects its caller to hold.
#pragma once

#if defined(__clang__)
#define ATLAS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define ATLAS_THREAD_ANNOTATION(x)
#endif

#define ATLAS_GUARDED_BY(x) ATLAS_THREAD_ANNOTATION(guarded_by(x))
#define ATLAS_PT_GUARDED_BY(x) ATLAS_THREAD_ANNOTATION(pt_guarded_by(x))
#define ATLAS_REQUIRES(...) ATLAS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ATLAS_EXCLUDES(...) ATLAS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
