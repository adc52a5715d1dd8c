/*
 * Replacement for XStream's NoTypePermission, for Debian's JMeter 2.13.
 *
 * Why: Debian 12 ships JMeter 2.13 with the system XStream 1.4.20, whose
 * security framework is on by default. JMeter 2.13 predates it and never
 * allows its own classes, so every plan is refused with
 * "ForbiddenClassException: org.apache.jmeter.save.ScriptWrapper" (and the
 * jmeter command still exits 0).
 *
 * How: XStream's SecurityMapper tries its permissions newest first and ends
 * with NoTypePermission.NONE, which normally throws for every type the other
 * permissions did not allow. This copy, put ahead of xstream.jar on the
 * classpath (JAVA_CLASSPATH, honoured by /usr/bin/jmeter through
 * java-wrappers), additionally allows JMeter's own classes
 * (org.apache.jmeter.*, org.apache.jorphan.*) and still refuses every other
 * type XStream's defaults refuse. Plans are trusted input anyway (a plan may
 * carry scripts); newer JMeter releases allow types wholesale.
 *
 * Compiled at run time by jmeter/run.sh into build/jmeter/xstream-fix/; never
 * committed as a binary.
 */
package com.thoughtworks.xstream.security;

public class NoTypePermission implements TypePermission {

    public static final TypePermission NONE = new NoTypePermission();

    public boolean allows(final Class type) {
        if (type != null) {
            final String name = type.getName();
            if (name.startsWith("org.apache.jmeter.") || name.startsWith("org.apache.jorphan.")) {
                return true;
            }
        }
        throw new ForbiddenClassException(type);
    }

    public int hashCode() {
        return 1;
    }

    public boolean equals(final Object obj) {
        return obj != null && obj.getClass() == NoTypePermission.class;
    }
}
