// The Android library module of Sotto's Kotlin binding, openable on its own
// in Android Studio. Untested on the machines Sotto is developed on (no
// Android SDK there); see bindings/README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "sotto-android"
