"""Noun modifiers FACTUAL train annotates as attributes ("brick wall" -> wall is brick).

Generated from FACTUAL train by `ssamt.labels.factual.learn_attr_modifiers` (ATTR_MODIFIERS)
and `learn_modifier_pairs(gold, ATTR_MODIFIERS)` (NAME_PAIRS, ATTR_PAIRS); a Python
module rather than a data file so that it ships with any install.
"""

ATTR_MODIFIERS = frozenset(
    """
    2 3 4 5 abandoned additional adorable adult african airline alone amusement analog
    ancient angled antique apple arched army artificial asian asphalt assorted athletic
    attractive australian awesome baby backwards baked bakery bald balding bamboo barbed
    bare barren basil batting beaded beautiful beige bending bent big birch black blonde
    blue blurred blurry bmw boarded bottom bouquet brass brick bricked bright broken brown
    brownish brushing bunch burgundy burned burnt bushy busy butterfly calico calm canadian
    caramelized cargo carpeted carried carved cattle caucasian cement center ceramic chained
    chainlink checked checkered chipped chipping chopped chrome circle circular clay clean
    clear closed closest cloth clouded cloudy cluttered cobblestone cold collared colored
    colorful commercial computer concentrating concrete cone connected cooked copper corded
    corner covered cowboy cracked crashed cream creamy crispy crossed crossing crowd crowded
    crumbled crumpled cubicle curled curly cursive curved cushioned cut cute dark darkened
    darkening darker dead decorated decoration decorative deep delicious dell dense designed
    dessert different digital directional dirt dirty distant down dressed dried driving
    drizzled dry dusty easy eating edge elderly electric electrical elevated empty enclosed
    evergreen exhaust exposed extended exterior fabric facial faded faint fake fall fallen
    falling fancy fat female few fighter figure figurine first fishing flat fleece floating
    flooded floppy floral flowered flowering fluffy flying foamy foil folded folding
    football forested formal fresh fried frilly frosted fueling full funny furry fuzzy
    gaming gathered gesturing giant glass glazed gloved glowing gold golden good gorgeous
    granite grassy gravel gray grazing green greenish grey greyhound grilled grinding
    grizzly hairy handicapped hanging happy hard hardwood hazy healthy heavy herd high hind
    his historical homemade hooded hoop horizontal horse-drawn hospital howling huge hungry
    id illuminated indian indoor industrial inflatable inner inside interesting interior
    iron italian jagged jet jumping khaki kneeling knit knitted lace laptop large larger
    largest laughing lavender leafless leafy leaning leather leftover lego lifted lighted
    limited liquid lit little loaded loading locomotive lone long longer looking lovely low
    lower lowered lush lying main majestic male man manicured many marble marketing maroon
    mashed mature melted messy metal metallic microwave military mini miniature mirrored
    mismatched modern mossy mother motorized moving muddy multi-colored munching mural murky
    muscular narrow natural navy neon new nice nike oblong ocean octagonal odd old older
    olympic on open opened opposing orange orange-red ornate out outdoor outdoors outside
    outstretched oval overcast overhead overweight pad painted pair pale paneled paper
    parasailing parked part partial patch patches patterned paved peach peaked pedestrian
    peeling pictured piece pieces pile pine pink plaid plain plastic playing plush pointed
    pointing pointy porcelain posing potted powerful pretty printed professional protective
    public puffy purple rainbow raised random raw ready rear reclining rectangle rectangular
    red reddish reflective refrigerated residential rimmed ripe rippled roast rock rocky
    rolled rolling rough round rounded row rubber rumpled running rural rusty same sand
    sandy scared scary scattered scrubby sealed seasoned seated second sectional serious
    setting shady shaggy shallow shaved sheer sheet shell shining shiny shirtless short
    short-sleeved shower shredded silver single sitting skateboarding skiing skinny slanted
    sleeping sleepy sleeveless slender slice slices sliding sliver sloped small smaller
    smiling smooth snowboarding soft softball sony spanish sparse speckled spiked spiky
    spiral spotted spread square stacked stained stainless standing statue steam steel steep
    steering stone storm straight straw strawberry stretched strip stripe striped strong
    stuffed stunning stunt styrofoam suit sunny surfing swinging talking tall taller tallest
    tan tangled tarmacked teal team teenage thatched thick thin third tight tilted tinted
    tiny toasted together tomato top toy toyota trail traveling triangular trimmed turquoise
    tuxedo twisted ugly uncooked unfinished unpaved untouched unwrapped up upright used
    utility v-neck vanilla various vast vertical vintage visible waiting walking warm
    watching waving wavy wax wearing wet wheat white whole wicker wide wii wild wilson
    wilting winding windowed wine wire wired wispy women wooded wooden working worn woven
    wrinkled wrought yellow yellowing young younger zipped
    """.split()  # noqa: SIM905 -- a word list reads better as text
)



# "mod head" pairs FACTUAL keeps as one object name ("hot dog"), written mod+head.
NAME_PAIRS = frozenset(
    pair.replace("+", " ") for pair in """
    action+figure advertising+sign air+conditioner air+plane airport+building airport+runway
    airport+terminal aluminum+foil american+flag apartment+building apple+computer area+rug
    arm+band arm+chair baby+bear back+leg back+pack back+pocket back+tire back+wall
    baking+pan ball+field ball+game banana+bunch bar+stool base+ball baseball+bat
    baseball+cap baseball+field baseball+game baseball+glove baseball+jersey baseball+player
    baseball+stadium bath+mat bath+tub bathing+suit bathroom+mirror bathroom+toilet
    bathroom+wall bathroom+window bay+window beach+chair beach+sand bed+frame bed+sheet
    bedside+table beer+bottle bell+pepper bell+tower bike+lane birthday+cake blow+dryer
    book+bag book+shelf bow+tie bowling+ball breakfast+food brief+case building+entrance
    building+tower bunk+bed bus+driver bus+stop bus+window butter+knife button+shirt
    cabinet+door cake+plate candle+holder cardboard+box cat+food caution+sign ceiling+fan
    ceiling+lamp ceiling+light chain+fence chocolate+cake chopping+block chopping+board
    citrus+fruit city+building city+bus city+sidewalk city+skyline city+street clock+face
    clock+tower coffee+cup coffee+mug coffee+pot coffee+table commercial+kitchen
    commuter+train computer+keyboard computer+mouse computer+tower control+panel
    conveyor+belt cow+pasture cross+walk cutting+board denim+jacket desk+phone
    desktop+computer dining+room dining+table dinner+plate dinner+table dirt+path dish+towel
    display+case dog+bed door+knob door+way dress+shirt drinking+glasses drive+way
    drivers+seat dvd+player electrical+outlet electronic+device end+table
    entertainment+center eye+glasses face+mask fence+post file+cabinet fire+escape
    fire+extinguisher fire+hose fire+hydrant fire+place fire+truck fireplace+tool flag+pole
    flip+flop floor+lamp flower+bed flower+pot flower+vase food+container food+dish
    food+item food+processor food+tray food+truck foot+hill freight+train french+door
    french+fry frisbee+game front+leg front+porch front+tire front+wheel front+window
    front+windshield front+yard fruit+stand frying+pan game+controller garage+door
    garbage+bin garbage+can garbage+truck gas+station giraffe+pen grass+area grass+field
    grass+pasture ground+cover ground+surface hair+dryer hand+towel handle+bar hang+glider
    head+board hill+side home+base home+office home+plate hot+dog hotel+room ice+bucket
    ice+cream jean+shorts key+board kitchen+cabinet kitchen+cart kitchen+counter
    kitchen+island kitchen+stove kitchen+window knee+pad lamp+post landing+gear lap+top
    lawn+chair left+arm left+ear left+eye left+hand left+leg left+wing license+plate
    life+jacket life+ring life+vest light+bulb light+fixture light+house light+pole
    light+post light+switch living+room manhole+cover medicine+cabinet mid+air minute+hand
    mixing+bowl mobile+phone model+train motor+bike motor+cycle motorcycle+seat
    mountain+range mountain+side mouse+pad name+tag night+stand office+building office+chair
    onion+ring orange+juice palm+tree paper+basket paper+towel paper+wrapper park+area
    park+bench parking+lot parking+meter passenger+bus passenger+car passenger+plane
    passenger+train passenger+window path+way pet+bed picnic+table picture+frame pillow+case
    pitching+mound pizza+board pizza+box pizza+crust pizza+cutter pizza+pan pizza+restaurant
    place+mat plant+life play+area playing+field polar+bear police+car police+man
    police+officer polka+dot polo+shirt pony+tail power+cable power+line price+tag
    public+area race+track rail+station railroad+track reading+glasses refrigerator+door
    remote+control restaurant+table retaining+wall right+arm right+ear right+eye right+foot
    right+hand right+leg right+side right+wall right+window right+wing road+side road+sign
    roof+top rose+bush row+boat run+way safety+cone safety+vest sail+boat salt+shaker
    school+bus sea+gull sea+shore security+camera semi+truck serving+tray sesame+seed
    shopping+bag shopping+cart shore+line shoulder+bag shower+door shower+stall shower+wall
    side+mirror side+table sign+board sign+post signal+light skate+board skate+park
    skate+ramp skateboard+park ski+boot ski+goggle ski+jacket ski+lift ski+pants ski+pole
    ski+resort ski+slope ski+suit skiing+gear smoke+stack snow+board snow+boarder snow+flake
    snow+goggle snow+pants snow+ski snow+suit soap+dispenser soap+holder soccer+ball
    soccer+field soccer+game soccer+player soda+can stadium+seat stair+case starbucks+cup
    station+platform steam+train stop+light stop+sign store+front store+window
    street+intersection street+lamp street+light street+sign subway+car subway+train
    sun+glasses support+pole support+post sweater+vest swim+trunk swimming+trunk tabby+cat
    table+chair table+cloth table+mat table+set table+top tail+wing tank+top taxi+cab
    tea+kettle teddy+bear telephone+pole telephone+wire television+set tennis+ball
    tennis+court tennis+dress tennis+game tennis+match tennis+net tennis+player
    tennis+racket tennis+racquet tennis+shirt tennis+shoe throw+pillow tin+foil tissue+box
    tissue+paper toilet+bowl toilet+lid toilet+paper toilet+seat toilet+tank tooth+brush
    top+hat tour+bus tow+truck towel+rack towel+rod tower+clock toy+train traffic+light
    traffic+sign traffic+signal train+bridge train+car train+door train+engine
    train+platform train+track trash+bag trash+bin trash+can trash+receptacle tree+leaf
    tree+limb tree+line tree+stump tree+top tree+trunk ultimate+frisbee uniform+pants
    upper+deck upper+floor upper+level video+camera video+game walk+way warning+sign
    washing+machine water+basin water+body water+bottle water+faucet water+pipe water+puddle
    water+ski water+tower water+way wave+pool wedding+cake wicker+basket window+frame
    window+pane window+sill wine+bottle winter+clothes winter+hat wire+basket wood+chair
    wood+floor work+truck wrist+band zebra+pen zoo+enclosure
    """.split()  # noqa: SIM905
)

# "mod head" pairs made an attribute although mod usually starts a name.
ATTR_PAIRS = frozenset(
    pair.replace("+", " ") for pair in """
    baseball+uniform bike+tire christmas+tree front+seat light+cloud parking+sign
    police+motorcycle security+vest starbucks+logo tennis+outfit wedding+ring winter+coat
    """.split()  # noqa: SIM905
)
