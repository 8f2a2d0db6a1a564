#!/usr/bin/env python3
print('{"all": {"hosts": ["web-1"]}}')
