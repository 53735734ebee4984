# Install Cardwatch for the current user on Windows, or remove what this script added.
#   powershell -ExecutionPolicy Bypass -File installer\install.ps1 [-From WHEEL] [-NoAutostart]
#   powershell -ExecutionPolicy Bypass -File installer\install.ps1 -Uninstall [-Purge]
# The same steps as install.sh: pipx when present, else a venv under %LOCALAPPDATA%\cardwatch;
# checks the Smart Card service (SCardSvr); enables start at login (the HKCU Run value);
# records what it added in install-manifest.txt; -Uninstall removes exactly that.
# Not run in CI (Windows is not available there).
param([string]$From = "", [switch]$Uninstall, [switch]$Purge, [switch]$NoAutostart)
$ErrorActionPreference = "Stop"

$DataDir = Join-Path $env:LOCALAPPDATA "cardwatch"
$Manifest = Join-Path $DataDir "install-manifest.txt"
$Venv = Join-Path $DataDir "venv"
function Step($t) { Write-Host "==> $t" }
function Note($t) { Write-Host "    $t" }
function Record($kind, $value) { Add-Content -Path $Manifest -Value "$kind`t$value" }

if ($Uninstall) {
    if (Test-Path $Manifest) {
        Step "removing what install.ps1 added ($Manifest)"
        $lines = Get-Content $Manifest
        [array]::Reverse($lines)
        foreach ($line in $lines) {
            $kind, $value = $line -split "`t", 2
            switch ($kind) {
                "autostart" { if (Test-Path $value) { & $value autostart disable | Out-Null; Note "start at login turned off" } }
                "pipx" { pipx uninstall $value | Out-Null; Note "pipx uninstall $value" }
                "venv" { Remove-Item -Recurse -Force $value; Note "removed the venv $value" }
            }
        }
        $created = $lines -contains "dir`t$DataDir"
        Remove-Item -Force $Manifest
        if ($created -and -not (Get-ChildItem $DataDir)) { Remove-Item $DataDir; Note "removed $DataDir" }
    } else { Step "nothing to remove: no manifest at $Manifest" }
    if ($Purge -and (Test-Path $DataDir)) { Remove-Item -Recurse -Force $DataDir; Note "purged $DataDir" }
    Step "done"; exit 0
}

$newDir = -not (Test-Path $DataDir)
New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
if ($newDir) { Record "dir" $DataDir }
$Target = if ($From) { (Resolve-Path $From).Path } else { Split-Path -Parent $PSScriptRoot }
Step "installing Cardwatch from $Target"
if (Get-Command pipx -ErrorAction SilentlyContinue) {
    pipx install --force "$Target[pkcs11]" | Out-Null
    Record "pipx" "cardwatch"
    $Cardwatch = (Get-Command cardwatch).Source
} else {
    Note "pipx not found: a venv at $Venv"
    if (-not (Test-Path "$Venv\Scripts\python.exe")) { py -3 -m venv $Venv }
    Record "venv" $Venv
    & "$Venv\Scripts\python.exe" -m pip install -q "$Target[pkcs11]"
    $Cardwatch = "$Venv\Scripts\cardwatch.exe"
}
Note ("installed: " + (& $Cardwatch --version))

Step "Smart Card service (SCardSvr)"
$svc = Get-Service -Name SCardSvr -ErrorAction SilentlyContinue
if ($null -eq $svc) { Note "the Smart Card service is missing: Cardwatch cannot see readers" }
elseif ($svc.Status -ne "Running") { Note "the Smart Card service is $($svc.Status); it starts when a reader is plugged in, or: Start-Service SCardSvr (as administrator)" }
else { Note "the Smart Card service is running" }

if (-not $NoAutostart) {
    Step "start at login"
    & $Cardwatch autostart enable
    Record "autostart" $Cardwatch
}
Step "done: run 'cardwatch check' to check your card"
