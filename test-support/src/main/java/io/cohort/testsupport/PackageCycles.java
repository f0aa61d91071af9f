package io.cohort.testsupport;

import com.tngtech.archunit.core.domain.Dependency;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Cycles between the packages of one module, found with ArchUnit's class importer. A package here
 * is a slice: the first segment below the module's root package, with the root's own classes as
 * {@code (root)}; a cycle is a strongly connected group of two or more slices. Known cycles are
 * listed by the caller, so only a new one (or a known one that takes in another package) fails.
 */
public final class PackageCycles {

    /** The slice name of classes directly in the root package. */
    public static final String ROOT = "(root)";

    private final String root;
    /** slice -> slice it depends on -> one example dependency, for the message. */
    private final Map<String, Map<String, String>> edges = new TreeMap<>();

    private PackageCycles(String root, JavaClasses classes) {
        this.root = root;
        for (JavaClass c : classes) {
            if (!inRoot(c.getPackageName())) {
                continue;
            }
            String from = slice(c.getPackageName());
            edges.computeIfAbsent(from, k -> new TreeMap<>());
            for (Dependency d : c.getDirectDependenciesFromSelf()) {
                String targetPackage = d.getTargetClass().getBaseComponentType().getPackageName();
                if (!inRoot(targetPackage)) {
                    continue;
                }
                String to = slice(targetPackage);
                if (!to.equals(from)) {
                    edges.get(from).putIfAbsent(to, d.getDescription());
                }
            }
        }
    }

    private PackageCycles(PackageCycles from, String dropped) {
        this.root = from.root;
        from.edges.forEach((slice, targets) -> {
            if (!slice.equals(dropped)) {
                Map<String, String> kept = new TreeMap<>(targets);
                kept.remove(dropped);
                edges.put(slice, kept);
            }
        });
    }

    /** The main (non-test) classes under {@code rootPackage} on the class path. */
    public static PackageCycles of(String rootPackage) {
        return new PackageCycles(rootPackage, new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages(rootPackage));
    }

    /** The cycles among {@code classes} (those outside {@code rootPackage} are ignored). */
    public static PackageCycles of(String rootPackage, JavaClasses classes) {
        return new PackageCycles(rootPackage, classes);
    }

    /**
     * The same slices without {@code slice} and its dependencies both ways: for a facade package that
     * uses every other one and is used by them (its own cycle listed as known), so that the others are
     * still checked among themselves.
     */
    public PackageCycles without(String slice) {
        return new PackageCycles(this, slice);
    }

    /** Today's cycles: each a sorted set of slice names. */
    public List<Set<String>> cycles() {
        return new Tarjan().run();
    }

    /**
     * Fails, naming the cycle and one dependency per step, when a cycle is not contained in one of
     * {@code known}.
     */
    public void assertNoCyclesBut(List<Set<String>> known) {
        List<String> news = new ArrayList<>();
        for (Set<String> cycle : cycles()) {
            if (known.stream().noneMatch(k -> k.containsAll(cycle))) {
                news.add(describe(cycle));
            }
        }
        if (!news.isEmpty()) {
            throw new AssertionError("New package cycle(s) under " + root + ": " + String.join("; ", news)
                    + ". Break the cycle (move the class both sides need, or invert the dependency with an interface)"
                    + " rather than adding it to the known cycles.");
        }
    }

    private String describe(Set<String> cycle) {
        StringBuilder sb = new StringBuilder(cycle.toString()).append(" via");
        for (String from : cycle) {
            edges.getOrDefault(from, Map.of()).forEach((to, example) -> {
                if (cycle.contains(to)) {
                    sb.append("\n  ").append(from).append(" -> ").append(to).append(": ").append(example);
                }
            });
        }
        return sb.toString();
    }

    private boolean inRoot(String pkg) {
        return pkg.equals(root) || pkg.startsWith(root + ".");
    }

    private String slice(String pkg) {
        if (pkg.equals(root)) {
            return ROOT;
        }
        String rest = pkg.substring(root.length() + 1);
        int dot = rest.indexOf('.');
        return dot < 0 ? rest : rest.substring(0, dot);
    }

    /** Strongly connected components of the slice graph (Tarjan's algorithm). */
    private final class Tarjan {
        private final Map<String, Integer> index = new HashMap<>();
        private final Map<String, Integer> low = new HashMap<>();
        private final Deque<String> stack = new ArrayDeque<>();
        private final Set<String> onStack = new TreeSet<>();
        private final List<Set<String>> components = new ArrayList<>();
        private int next;

        List<Set<String>> run() {
            for (String v : edges.keySet()) {
                if (!index.containsKey(v)) {
                    visit(v);
                }
            }
            return components;
        }

        private void visit(String v) {
            index.put(v, next);
            low.put(v, next);
            next++;
            stack.push(v);
            onStack.add(v);
            for (String w : edges.getOrDefault(v, Map.of()).keySet()) {
                if (!index.containsKey(w)) {
                    visit(w);
                    low.put(v, Math.min(low.get(v), low.get(w)));
                } else if (onStack.contains(w)) {
                    low.put(v, Math.min(low.get(v), index.get(w)));
                }
            }
            if (low.get(v).equals(index.get(v))) {
                Set<String> component = new TreeSet<>();
                String w;
                do {
                    w = stack.pop();
                    onStack.remove(w);
                    component.add(w);
                } while (!w.equals(v));
                if (component.size() > 1) {
                    components.add(component);
                }
            }
        }
    }
}
