# Shared rules of the C++ examples: builds $(PLUGIN).so from $(PLUGIN).cpp with nothing
# but the hostd SDK's pkg-config file. An example's Makefile is two lines:
#   PLUGIN := greeter
#   include ../plugin.mk
# Then: make (after `cmake --install`), or PKG_CONFIG_PATH=<build>/sdk/pkgconfig make,
# and make OUT=/some/plugins/dir to put the .so elsewhere. Copy it into your own project
# as it is: it has no other dependency.
OUT ?= .
CXX ?= g++
CXXFLAGS ?= -O2 -Wall -Wextra
HOSTD_CFLAGS := $(shell pkg-config --cflags hostd-sdk)
HOSTD_LIBS := $(shell pkg-config --libs hostd-sdk)

$(OUT)/$(PLUGIN).so: $(PLUGIN).cpp
	@pkg-config --exists hostd-sdk || { echo "hostd-sdk not found: install hostd or set PKG_CONFIG_PATH=<build>/sdk/pkgconfig" >&2; exit 1; }
	$(CXX) -std=c++17 $(CXXFLAGS) -shared -fPIC $(HOSTD_CFLAGS) $< -o $@ $(HOSTD_LIBS)

clean:
	rm -f $(OUT)/$(PLUGIN).so

.PHONY: clean
