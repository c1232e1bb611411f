// Sotto for Android: the same uniffi-generated Kotlin as the JVM tests use
// (../src/main/kotlin, made by `bindings/generate.sh kotlin`), with the
// native library built for each Android ABI into src/main/jniLibs by
// `./build-jnilibs.sh`. Untested here; see bindings/README.md.
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.0"
}

android {
    namespace = "uniffi.sotto"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets.getByName("main") {
        // The generated binding (build output, not in git).
        java.srcDir("../src/main/kotlin")
        // libsotto_ffi.so per ABI (build output, not in git).
        jniLibs.srcDir("src/main/jniLibs")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The Android flavour of JNA (an AAR with its native dispatch library).
    implementation("net.java.dev.jna:jna:5.15.0@aar")
}
