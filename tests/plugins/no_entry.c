/* A shared object that is not a hostd plugin: no hostd_plugin_entry. */
__attribute__((visibility("default"))) int some_other_function(void);
int some_other_function(void) { return 42; }
